"""A switchover: the pool's connections now reach a standby that refuses writes.

Patroni demotes the old primary without closing its clients' connections, so a
pooled connection keeps answering, read-only. The store must drop its pool when a
write is refused that way, so the next connections find the new primary through
the multi-host URL. Here one database plays both parts: made read-only for new
sessions (the standby), then writable again (the primary found anew).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import pytest

from keyturn.store.base import Store, StoreUnavailable
from keyturn.store.postgres import PostgresDialect
from keyturn.store.records import Advanced
from keyturn.store.sql import SqlStore
from tests.store.test_contract import attempt, make_client, new_grant
from tests.support import POSTGRES_URL


async def set_read_only(url: str, read_only: bool) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        value = "on" if read_only else "off"
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
    finally:
        await admin.close()


async def demoted(store: Store, url: str) -> None:
    """Every pooled connection now sits on a 'standby'."""
    await set_read_only(url, True)
    assert isinstance(store, SqlStore) and isinstance(store._db, PostgresDialect)
    await store._db._pool.expire_connections()


async def test_writes_refused_as_read_only_renew_the_pool(
    postgres: tuple[Store, str],
) -> None:
    store, url = postgres
    live = await store.create_grant(new_grant())
    await demoted(store, url)

    async def in_a_transaction() -> object:
        await store.create_client(make_client(f"app-{os.urandom(4).hex()}"))
        return None

    async def on_its_own() -> object:
        return await store.create_grant(new_grant())

    async def batched() -> object:
        return await store.advance_refresh(attempt(live.grant_id, 0))

    writes: list[Callable[[], Awaitable[object]]] = [in_a_transaction, on_its_own, batched]
    for write in writes:
        with pytest.raises(StoreUnavailable, match="read-only"):
            await write()
    # The 'primary' is back. Without the pool renewed, the pooled connections would
    # stay read-only for as long as they live.
    await set_read_only(url, False)
    await asyncio.sleep(0.2)  # the pool's connections are dropped in the background
    await in_a_transaction()
    await on_its_own()
    assert isinstance(await batched(), Advanced)
