"""PostgreSQL's batched refresh statement when the database aborts it."""

from __future__ import annotations

import asyncio

import asyncpg

from keyturn.store import open_store
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


async def test_two_refreshes_without_rotation_each_see_the_use_before_their_own(
    postgres: tuple[Store, str],
) -> None:
    # Without rotation two refreshes of one grant both succeed. When they run at
    # the same moment (two instances), the one that waits must report the other's
    # use as the previous one, not the use both saw when they began: otherwise both
    # would report the same move to a new network.
    store, url = postgres
    grant = await store.create_grant(new_grant(ip="192.0.2.1"))
    other_instance = await open_store(url, pool_size=2, listen=False)
    holder = await asyncpg.connect(url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT 1 FROM grants WHERE grant_id = encode($1, 'hex')::uuid FOR UPDATE",
            grant.grant_id,
        )
        refreshes = asyncio.gather(
            store.advance_refresh(attempt(grant.grant_id, 0, rotate=False, ip="198.51.100.1")),
            other_instance.advance_refresh(
                attempt(grant.grant_id, 0, rotate=False, ip="203.0.113.1")
            ),
        )
        await asyncio.sleep(0.3)  # both are waiting for the row now
        await transaction.commit()
        outcomes = await asyncio.wait_for(refreshes, timeout=10)
    finally:
        await holder.close()
        await other_instance.close()
    assert all(isinstance(outcome, Advanced) for outcome in outcomes)
    first, second = sorted(
        (outcome.grant for outcome in outcomes if isinstance(outcome, Advanced)),
        key=lambda g: g.access_generation,
    )
    assert first.prev_ip == "192.0.2.1"
    assert second.prev_ip == first.last_ip != second.last_ip
