"""The LISTEN connection on its own URL (as behind a transaction-pooling PgBouncer):
client changes made by another instance reach this one's client cache through it,
and it comes back on that URL after its backend is killed."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import asyncpg

from keyturn.store import open_store
from keyturn.store.base import Store
from tests.store.test_contract import make_client

LISTENER_NAME = "keyturn-listen-test"


async def eventually(check: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def listener_pids(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
            " AND datname = current_database() AND query LIKE 'LISTEN%'",
            LISTENER_NAME,
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


async def test_client_changes_arrive_through_the_listen_url_and_it_comes_back(
    postgres: tuple[Store, str],
) -> None:
    writer, url = postgres
    reader = await open_store(
        url, pool_size=2, listen_url=f"{url}?application_name={LISTENER_NAME}"
    )
    try:
        [pid] = await listener_pids(url)  # the listener is the one on the other URL

        async def name_seen(expected: str) -> bool:
            client = await reader.get_client("app")
            return client is not None and client.name == expected

        assert await name_seen("App")  # cached by the reader from here on
        renamed = dataclasses.replace(make_client(), name="Renamed")
        assert await writer.update_client(renamed, time.time())
        await eventually(lambda: name_seen("Renamed"))

        async def listener_replaced() -> bool:
            return (found := await listener_pids(url)) != [] and found != [pid]

        killer = await asyncpg.connect(url)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        await eventually(listener_replaced)
        # The server runs the LISTEN a moment before the reader has taken its answer
        # and turned caching back on; then the client is cached again, and only a
        # notice heard on the new listener can tell the reader its name changed.
        await asyncio.sleep(0.3)
        assert await name_seen("Renamed")
        again = dataclasses.replace(make_client(), name="Again")
        assert await writer.update_client(again, time.time())
        await eventually(lambda: name_seen("Again"))
    finally:
        await reader.close()
