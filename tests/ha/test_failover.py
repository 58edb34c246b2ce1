"""A Patroni failover under load: kill -9 of the primary node while 48 refresh chains run.

Two keyturn instances share a two-node cluster with synchronous replication,
through a multi-host URL with `target_session_attrs=read-write`. The primary's
Patroni and PostgreSQL are killed at once; Patroni promotes the standby once the
leader key expires (its TTL). What must hold:

- no chain is lost: every refresh answered 200 survived on the synchronous
  standby, and a retry of one whose answer was lost got the identical answer;
- no answer is a 5xx other than 503 (with Retry-After), and no traceback is logged;
- keyturn serves again by itself, within a second of Patroni reporting the new
  primary; the longest stretch without any successful refresh stays within the TTL
  and two seconds (the TTL and the promotion are Patroni's);
- retries through the outage did not use up the tokens' rate limit (no 429);
- each instance's LISTEN connection came back (one log line each way).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.config import Secret, Settings
from keyturn.oauth.context import Context
from keyturn.runtime import open_context
from testkit.chains import Chain, ChainDriver
from testkit.cluster import TTL, Cluster
from testkit.services import SECRET_KEY, ServerProcess
from tests.http.helpers import make_partner, user_tokens

pytestmark = pytest.mark.ha

CHAINS = 48
# High enough for the steady pace, far below what retries through a 10-second outage
# would reach if they were counted (48 chains retrying every 0.1 s).
RATE = "100"


@pytest.fixture(scope="module")
def cluster(cluster_dir: Path) -> Iterator[Cluster]:
    cluster = Cluster(cluster_dir / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def instances(cluster: Cluster, cluster_dir: Path) -> Iterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            servers.append(
                ServerProcess(
                    cluster.url,
                    cluster_dir / f"keyturn-{name}",
                    KEYTURN_REFRESH_TOKEN_RATE=RATE,
                    KEYTURN_LOG_LEVEL="info",
                    KEYTURN_ACCESS_LOG="false",
                )
            )
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
async def admin_ctx(cluster: Cluster, instances: list[ServerProcess]) -> AsyncIterator[Context]:
    settings = Settings(database=cluster.url, secret_key=Secret(SECRET_KEY))
    ctx = await open_context(settings, create=False)
    try:
        yield ctx
    finally:
        await ctx.store.close()


async def make_chains(ctx: Context, base_url: str) -> list[Chain]:
    partner = await make_partner(ctx)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        tokens = await asyncio.gather(*(user_tokens(http, partner) for _ in range(CHAINS)))
    return [Chain(t["refresh_token"], partner.auth) for t in tokens]


def log_of(server: ServerProcess) -> str:
    return Path(server.log_path).read_text(errors="replace")


async def test_a_failover_loses_no_refresh_and_answers_only_503(
    cluster: Cluster, instances: list[ServerProcess], admin_ctx: Context
) -> None:
    chains = await make_chains(admin_ctx, instances[0].base_url)
    driver = ChainDriver(chains, [server.base_url for server in instances])
    driver.start()
    await asyncio.sleep(3)  # steady state first
    before = sum(chain.refreshes for chain in chains)
    assert before >= CHAINS, driver.tally.answers
    old = await asyncio.to_thread(cluster.kill_primary)
    killed_at = time.monotonic()
    new = await asyncio.to_thread(cluster.wait_new_leader, old)
    promoted_at = time.monotonic()  # when Patroni first reports the new primary running
    # Serving again: every chain refreshes at least once more after the promotion.
    counts = {id(chain): chain.refreshes for chain in chains}
    deadline = time.monotonic() + 30
    while any(chain.refreshes <= counts[id(chain)] for chain in chains if not chain.lost):
        assert time.monotonic() < deadline, driver.tally.answers
        await asyncio.sleep(0.2)
    await driver.stop()

    tally = driver.tally
    assert not driver.lost, [(c.lost, c.refreshes) for c in driver.lost]
    assert not tally.unexpected, tally.unexpected[:5]
    assert tally.answers["429"] == 0, tally.answers
    assert tally.answers["503"] > 0, tally.answers  # the outage was seen, and said so
    gap = tally.longest_gap_after(killed_at)
    # Most of the gap is Patroni's: the leader key expires up to TTL seconds after the
    # kill, then the standby is promoted. keyturn's part is what follows the promotion.
    assert gap <= TTL + 2, f"{gap:.1f} s without a refresh (Patroni TTL {TTL} s); {tally.answers}"
    first = min(t for t in tally.successes if t >= killed_at)
    assert first - promoted_at <= 1, f"serving {first - promoted_at:.1f} s after the promotion"
    for server in instances:
        log = log_of(server)
        assert "Traceback" not in log and "internal error" not in log, log[-3000:]
        assert "lost the LISTEN connection" in log
        # Cross-instance notices resume within 5 s of the new primary answering.
        deadline = time.monotonic() + 5
        while "the LISTEN connection is back" not in log_of(server):
            assert time.monotonic() < deadline, log_of(server)[-3000:]
            await asyncio.sleep(0.1)
    print(
        f"\nfailover {old.name} -> {new.name}: {dict(tally.answers)}, gap {gap:.1f} s,"
        f" first refresh {first - promoted_at:+.2f} s from the promotion"
    )
