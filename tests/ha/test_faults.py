"""Faults of one PostgreSQL and of keyturn itself, under 48 refresh chains.

The database is a PostgreSQL of the test's own: restarted, stopped for a few
seconds, and keyturn killed with SIGKILL and started again on its port. Each time
no chain may be lost, no answer may be a 5xx other than 503, no traceback may be
logged, and keyturn must serve again by itself within a second of the database
answering (or of its own restart) without being restarted for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.config import Secret, Settings
from keyturn.oauth.context import Context
from keyturn.runtime import open_context
from testkit.chains import Chain, ChainDriver
from testkit.cluster import Standalone
from testkit.services import SECRET_KEY, ServerProcess
from tests.http.helpers import make_partner, user_tokens

pytestmark = pytest.mark.ha

CHAINS = 48
RATE = "100"
OUTAGE_SECONDS = 4


@pytest.fixture(scope="module")
def database(cluster_dir: Path) -> Iterator[Standalone]:
    database = Standalone(cluster_dir / "standalone")
    database.start()
    try:
        yield database
    finally:
        database.shutdown()


def start_keyturn(database: Standalone, folder: Path, port: int | None = None) -> ServerProcess:
    return ServerProcess(
        database.url,
        folder,
        port=port,
        workers=2,
        KEYTURN_REFRESH_TOKEN_RATE=RATE,
        KEYTURN_ACCESS_LOG="false",
    )


@pytest.fixture(scope="module")
def keyturn_server(database: Standalone, cluster_dir: Path) -> Iterator[list[ServerProcess]]:
    """In a list, so a test can replace the server it killed."""
    servers = [start_keyturn(database, cluster_dir / "keyturn")]
    try:
        yield servers
    finally:
        servers[0].stop()


@pytest.fixture(scope="module")
async def admin_ctx(
    database: Standalone, keyturn_server: list[ServerProcess]
) -> AsyncIterator[Context]:
    ctx = await open_context(
        Settings(database=database.url, secret_key=Secret(SECRET_KEY)), create=False
    )
    try:
        yield ctx
    finally:
        await ctx.store.close()


@pytest.fixture
async def driver(
    admin_ctx: Context, keyturn_server: list[ServerProcess]
) -> AsyncIterator[ChainDriver]:
    partner = await make_partner(admin_ctx)
    base_url = keyturn_server[0].base_url
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        tokens = await asyncio.gather(*(user_tokens(http, partner) for _ in range(CHAINS)))
    driver = ChainDriver([Chain(t["refresh_token"], partner.auth) for t in tokens], [base_url])
    driver.start()
    await asyncio.sleep(2)  # steady state first
    yield driver
    await driver.stop()


async def serving_again(driver: ChainDriver, since: float, limit: float) -> float:
    """Seconds from `since` until every chain has refreshed once more (at most `limit`)."""
    counts = {id(chain): chain.refreshes for chain in driver.chains}
    while any(c.refreshes <= counts[id(c)] for c in driver.chains if c.lost is None):
        assert time.monotonic() - since < limit, driver.tally.answers
        await asyncio.sleep(0.05)
    return time.monotonic() - since


def assert_nothing_lost(driver: ChainDriver, server: ServerProcess) -> None:
    tally = driver.tally
    assert not driver.lost, [(c.lost, c.refreshes) for c in driver.lost]
    assert not tally.unexpected, tally.unexpected[:5]
    assert tally.answers["429"] == 0, tally.answers
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and its children (uvicorn's workers)."""
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_of(stat) == pid
    ]
    for each in [pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def _parent_of(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


async def listener_back(server: ServerProcess, times: int, limit: float = 5) -> None:
    """Each worker logs once that its LISTEN connection is back."""
    deadline = time.monotonic() + limit
    while server.log_path.read_text(errors="replace").count("LISTEN connection is back") < times:
        assert time.monotonic() < deadline, server.log_path.read_text(errors="replace")[-3000:]
        await asyncio.sleep(0.1)


async def test_a_database_restart(
    driver: ChainDriver, database: Standalone, keyturn_server: list[ServerProcess]
) -> None:
    server = keyturn_server[0]
    backs = server.log_path.read_text(errors="replace").count("LISTEN connection is back")
    await asyncio.to_thread(database.restart)
    answering = time.monotonic()
    took = await serving_again(driver, answering, 5)
    await listener_back(server, backs + 2)  # two workers
    await driver.stop()
    assert_nothing_lost(driver, server)
    print(f"\nrestart: {dict(driver.tally.answers)}; serving {took:.2f} s after")


async def test_a_database_outage(
    driver: ChainDriver, database: Standalone, keyturn_server: list[ServerProcess]
) -> None:
    server = keyturn_server[0]
    await asyncio.to_thread(database.stop, "immediate")
    stopped = time.monotonic()
    await asyncio.sleep(OUTAGE_SECONDS)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    await asyncio.to_thread(database.start)
    answering = time.monotonic()
    took = await serving_again(driver, answering, 5)
    await driver.stop()
    assert_nothing_lost(driver, server)
    assert driver.tally.answers["503"] > 0
    first = min(t for t in driver.tally.successes if t >= answering) - answering
    assert first <= 1, f"the first refresh came {first:.2f} s after the database was back"
    print(f"\noutage {answering - stopped:.1f} s: {dict(driver.tally.answers)}; {took:.2f} s")


async def test_keyturn_killed_and_started_again(
    driver: ChainDriver,
    database: Standalone,
    keyturn_server: list[ServerProcess],
    cluster_dir: Path,
) -> None:
    server = keyturn_server[0]
    kill_tree(server.process.pid)  # the supervisor and its workers, as a container dies
    server.process.wait()
    server.stop()
    started = time.monotonic()
    keyturn_server[0] = server = await asyncio.to_thread(
        start_keyturn, database, cluster_dir / "keyturn", server.port
    )
    took = await serving_again(driver, started, 15)
    await driver.stop()
    assert_nothing_lost(driver, server)
    print(f"\nkill -9: {dict(driver.tally.answers)}; serving {took:.2f} s after the restart")
