"""PostgreSQL's batched refresh statement when the database aborts it."""

from __future__ import annotations

import asyncio

import asyncpg

from keyturn.store.base import Store
from keyturn.store.records import Advanced
from tests.store.test_contract import attempt, new_grant


async def test_a_deadlocked_batch_is_retried_one_grant_at_a_time(
    postgres: tuple[Store, str],
) -> None:
    store, url = postgres
    first = await store.create_grant(new_grant(grant_id=b"\x01" * 16))
    second = await store.create_grant(new_grant(grant_id=b"\x02" * 16))
    other = await asyncpg.connect(url)
    try:
        # Another writer holds the second row; the batch locks the first, then waits.
        transaction = other.transaction()
        await transaction.start()
        await other.execute(
            "UPDATE grants SET last_ip = '192.0.2.120' WHERE grant_id = encode($1, 'hex')::uuid",
            second.grant_id,
        )
        refreshes = asyncio.gather(
            store.advance_refresh(attempt(first.grant_id, 0)),
            store.advance_refresh(attempt(second.grant_id, 0)),
        )
        await asyncio.sleep(0.3)
        # Now the writer wants the first row: a cycle. PostgreSQL aborts the batch
        # (it has waited longest), which must fall back to one row at a time.
        await other.execute(
            "UPDATE grants SET last_ip = '192.0.2.121' WHERE grant_id = encode($1, 'hex')::uuid",
            first.grant_id,
        )
        await transaction.commit()
        outcomes = await asyncio.wait_for(refreshes, timeout=10)
    finally:
        await other.close()
    assert [type(outcome) for outcome in outcomes] == [Advanced, Advanced]
    for grant in (first, second):
        current = await store.get_grant(grant.grant_id)
        assert current is not None and current.refresh_generation == 1
