from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from keyturn.config import Secret, Settings
from keyturn.oauth.clock import FrozenClock
from keyturn.oauth.context import Context
from keyturn.runtime import open_context
from keyturn.store import open_store
from keyturn.store.base import Store
from tests.support import SECRET_KEY, ServerProcess, create_database, drop_database

BACKENDS = ["sqlite", "postgres"]


async def _fresh_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'keyturn.db'}"
        return
    url = await create_database()
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of each backend."""
    async for url in _fresh_database_url(request.param, tmp_path):
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url, pool_size=4)
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def ctx(store: Store, clock: FrozenClock, tmp_path: Path) -> Context:
    settings = Settings(data_dir=str(tmp_path), secret_key=Secret(SECRET_KEY))
    return await open_context(settings, clock=clock, store=store)


@pytest.fixture(scope="module", params=BACKENDS)
async def server_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async for url in _fresh_database_url(request.param, tmp_path_factory.mktemp("db")):
        yield url


@pytest.fixture(scope="module")
def server(
    server_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A real `keyturn serve` on loopback, one per backend per module."""
    process = ServerProcess(server_database, tmp_path_factory.mktemp("data"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
async def admin_ctx(server: ServerProcess) -> AsyncIterator[Context]:
    """Operator access to the server's database, as the CLI has."""
    settings = Settings(
        database=server.database, data_dir=str(server.data_dir), secret_key=Secret(SECRET_KEY)
    )
    opened = await open_store(server.database, pool_size=2, listen=False)
    context = await open_context(settings, store=opened)
    yield context
    await opened.close()
