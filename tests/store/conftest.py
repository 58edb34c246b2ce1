"""Fixtures of the PostgreSQL-only store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from keyturn.store import open_store
from keyturn.store.base import Store
from tests.store.test_contract import make_client, make_user
from tests.support import create_database, drop_database


@pytest.fixture
async def postgres() -> AsyncIterator[tuple[Store, str]]:
    url = await create_database()
    store = await open_store(url, pool_size=4)
    await store.migrate()
    await store.create_client(make_client())
    await store.create_user(make_user())
    try:
        yield store, url
    finally:
        await store.close()
        await drop_database(url)
