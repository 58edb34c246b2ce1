"""PostgreSQL's batched refresh statement when the database aborts it."""

from __future__ import annotations

import asyncio
from typing import Any

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


async def test_batched_refreshes_and_reads_plan_once_on_connections_of_their_own(
    postgres: tuple[Store, str],
) -> None:
    # PostgreSQL plans a prepared statement afresh on every execution when a plan
    # for the values at hand looks cheaper than one plan for all: for a batch of
    # one it always does, and that planning cost more than the refresh itself.
    store, _ = postgres
    grants = [await store.create_grant(new_grant()) for _ in range(8)]
    for grant in grants:  # one at a time: each alone in its batch
        assert isinstance(await store.advance_refresh(attempt(grant.grant_id, 0)), Advanced)
        assert await store.get_grant(grant.grant_id) is not None
    for generation in (1, 2):  # all at once: one batch of eight, twice
        outcomes = await asyncio.gather(
            *(store.advance_refresh(attempt(grant.grant_id, generation)) for grant in grants)
        )
        assert all(isinstance(outcome, Advanced) for outcome in outcomes)
        found = await asyncio.gather(*(store.get_grant(grant.grant_id) for grant in grants))
        assert [grant and grant.refresh_generation for grant in found] == [generation + 1] * 8
    dialect = store._db  # type: ignore[attr-defined]
    plans = await _plan_counts(dialect)

    def counted(start: str, end: str) -> tuple[int, int]:
        """(generic, custom) plans of the statements with that start and end."""
        rows = [
            counts
            for statement, counts in plans.items()
            if statement.startswith(start) and statement.endswith(end)
        ]
        return sum(generic for generic, _ in rows), sum(custom for _, custom in rows)

    assert counted("UPDATE grants SET", "prev_used_at") == (8, 0), plans  # one row
    assert counted("UPDATE grants AS g", "prev_used_at") == (2, 0), plans  # a batch
    assert counted("SELECT", "WHERE grant_id = $1") == (8, 0), plans
    assert counted("SELECT", "= ANY($1::uuid[])") == (2, 0), plans
    # The rest of the store keeps PostgreSQL's default, which plans range scans (a
    # purge, a listing) for the values given.
    row = await dialect.fetchrow("SHOW plan_cache_mode")
    assert row is not None and row[0] == "auto"


async def _plan_counts(dialect: Any) -> dict[str, tuple[int, int]]:
    """(generic, custom) plans of each statement prepared on the batch connections (a
    session sees only its own statements), read holding both of them at once."""
    counts: dict[str, tuple[int, int]] = {}
    pool: asyncpg.Pool = dialect._batch_pool
    connections = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        for connection in connections:
            for statement, generic, custom in await connection.fetch(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
            ):
                before = counts.get(statement, (0, 0))
                counts[statement] = (before[0] + generic, before[1] + custom)
    finally:
        for connection in connections:
            await pool.release(connection)
    return counts


async def test_batch_connections_the_server_closed_while_idle_are_replaced_unnoticed(
    postgres: tuple[Store, str],
) -> None:
    # A batch connection the server ended while it was idle (a restart, an
    # administrator) must not fail the next request.
    store, url = postgres
    grant = await store.create_grant(new_grant())
    assert await store.get_grant(grant.grant_id) is not None
    assert isinstance(await store.advance_refresh(attempt(grant.grant_id, 0)), Advanced)
    admin = await asyncpg.connect(url)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert ended >= 2
    await asyncio.sleep(0.3)  # the driver hears the connections close
    found = await store.get_grant(grant.grant_id)
    assert found is not None and found.refresh_generation == 1
    assert isinstance(await store.advance_refresh(attempt(grant.grant_id, 1)), Advanced)
