"""Anomaly signals over a real server (SQLite and PostgreSQL): each triggered by the
pattern it names, through a trusted proxy's forwarded addresses, and not by its near miss."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from keyturn.oauth.context import Context
from keyturn.store.records import Event
from tests.http.helpers import Partner, make_partner, sign_up
from tests.support import ServerProcess, running_server

POLICIES = {
    "refresh_storm": {"action": "notify", "threshold": 3},
    "token_scan": {"threshold": 5},
}


@pytest.fixture(scope="module")
def proxied(
    server_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Loopback is the trusted proxy: X-Forwarded-For says where each client is."""
    with running_server(
        server_database,
        tmp_path_factory.mktemp("signals"),
        KEYTURN_TRUSTED_PROXIES="127.0.0.0/8",
        KEYTURN_SIGNALS=json.dumps(POLICIES),
    ) as process:
        yield process


@pytest.fixture
async def http(proxied: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=proxied.base_url) as client:
        yield client


@pytest.fixture(scope="module")
async def ctx(proxied: ServerProcess, admin_ctx: Context) -> Context:
    return admin_ctx


async def tokens_from(http: httpx.AsyncClient, partner: Partner, ip: str) -> dict[str, Any]:
    email = await sign_up(http, partner)
    answer = await http.post(
        "/oauth/token",
        data={
            "grant_type": "registration_code",
            "email": email,
            "registration_code": "code-1234567",
        },
        auth=partner.auth,
        headers={"X-Forwarded-For": ip},
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


async def refresh_from(
    http: httpx.AsyncClient, partner: Partner, token: str, ip: str
) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=partner.auth,
        headers={"X-Forwarded-For": ip},
    )


async def chain(
    http: httpx.AsyncClient, partner: Partner, token: str, ips: list[str]
) -> tuple[str, list[httpx.Response]]:
    answers = []
    for ip in ips:
        answer = await refresh_from(http, partner, token, ip)
        answers.append(answer)
        if answer.status_code == 200:
            token = answer.json()["refresh_token"]
    return token, answers


async def events_of(ctx: Context, client_id: str, kind: str, *, wait: float = 3.0) -> list[Event]:
    """The client's events of a kind, once they stop arriving (they are written after the
    answer, off the request's path)."""
    deadline = time.monotonic() + wait
    found: list[Event] = []
    while time.monotonic() < deadline:
        found = await ctx.store.page_events(
            kinds=(kind,), user_id=None, client_id=client_id, since=None, before_id=None, limit=50
        )
        if found:
            await asyncio.sleep(0.3)
            return await ctx.store.page_events(
                kinds=(kind,),
                user_id=None,
                client_id=client_id,
                since=None,
                before_id=None,
                limit=50,
            )
        await asyncio.sleep(0.1)
    return found


async def test_a_refresh_from_another_network_is_a_signal(
    http: httpx.AsyncClient, ctx: Context
) -> None:
    partner = await make_partner(ctx)
    tokens = await tokens_from(http, partner, "198.51.100.7")
    # The same /24: a near miss, no signal.
    token, answers = await chain(http, partner, tokens["refresh_token"], ["198.51.100.200"])
    assert [a.status_code for a in answers] == [200]
    assert await events_of(ctx, partner.client_id, "refresh_network_changed", wait=1.0) == []
    _, answers = await chain(http, partner, token, ["203.0.113.5"])
    assert answers[0].status_code == 200  # recorded, not refused: phones change networks
    [event] = await events_of(ctx, partner.client_id, "refresh_network_changed")
    assert event.detail == {
        "from_network": "198.51.100.0/24",
        "to_network": "203.0.113.0/24",
        "action": "record",
    }
    assert event.ip == "203.0.113.5" and event.grant_id is not None


async def test_ipv6_networks_are_slash_48(http: httpx.AsyncClient, ctx: Context) -> None:
    partner = await make_partner(ctx)
    tokens = await tokens_from(http, partner, "2001:db8:1::1")
    token, _ = await chain(http, partner, tokens["refresh_token"], ["2001:db8:1:ffff::9"])
    assert await events_of(ctx, partner.client_id, "refresh_network_changed", wait=1.0) == []
    await chain(http, partner, token, ["2001:db8:2::1"])
    [event] = await events_of(ctx, partner.client_id, "refresh_network_changed")
    assert event.detail["to_network"] == "2001:db8:2::/48"


async def test_a_storm_of_refreshes_is_a_signal_once(http: httpx.AsyncClient, ctx: Context) -> None:
    partner = await make_partner(ctx)
    tokens = await tokens_from(http, partner, "192.0.2.1")
    # Three in one access-token lifetime is the threshold: a near miss.
    token, _ = await chain(http, partner, tokens["refresh_token"], ["192.0.2.1"] * 3)
    assert await events_of(ctx, partner.client_id, "refresh_storm", wait=1.0) == []
    await chain(http, partner, token, ["192.0.2.1"] * 3)  # the fourth, fifth, sixth
    [event] = await events_of(ctx, partner.client_id, "refresh_storm")
    assert event.detail == {"refreshes": 4, "threshold": 3, "action": "notify"}


async def test_a_grant_unused_for_long_and_used_from_a_new_network(
    http: httpx.AsyncClient, ctx: Context
) -> None:
    partner = await make_partner(ctx)
    quiet = await tokens_from(http, partner, "192.0.2.50")
    long_ago = await tokens_from(http, partner, "192.0.2.51")
    await _age_grants(ctx, partner.client_id, days=20, only=quiet)
    await _age_grants(ctx, partner.client_id, days=40, only=long_ago)
    # 20 days (under the 30-day default) from a new network: only the network change.
    await chain(http, partner, quiet["refresh_token"], ["203.0.113.80"])
    # 40 days, same network: a near miss too.
    same = await tokens_from(http, partner, "192.0.2.52")
    await _age_grants(ctx, partner.client_id, days=40, only=same)
    await chain(http, partner, same["refresh_token"], ["192.0.2.52"])
    assert await events_of(ctx, partner.client_id, "dormant_grant_used", wait=1.0) == []
    await chain(http, partner, long_ago["refresh_token"], ["203.0.113.81"])
    [event] = await events_of(ctx, partner.client_id, "dormant_grant_used")
    idle = event.detail["idle_days"]
    assert event.detail["to_network"] == "203.0.113.0/24"
    assert isinstance(idle, float) and idle >= 40


async def _age_grants(ctx: Context, client_id: str, *, days: int, only: dict[str, Any]) -> None:
    """Pretend the grant behind `only` was last used `days` ago (the clock is real)."""
    grant_id = (await ctx.keys.read_refresh(only["refresh_token"])).grant_id
    dialect = ctx.store._db  # type: ignore[attr-defined]
    await dialect.execute(
        "UPDATE grants SET last_used_at = last_used_at - $2, window_start = 0"
        " WHERE grant_id = $1 AND client_id = $3",
        grant_id,
        days * 86400.0,
        client_id,
    )


async def test_scanning_for_tokens_is_a_signal(http: httpx.AsyncClient, ctx: Context) -> None:
    partner = await make_partner(ctx)
    # The count runs in clock-minute windows: all of it must fall inside one.
    left = 60 - ctx.clock.now() % 60
    if left < 20:
        await asyncio.sleep(left + 0.1)
    before = await _scans(ctx)
    for n in range(5):  # the threshold itself: a near miss
        await refresh_from(http, partner, f"ktr_forged{n}", "198.18.0.7")
    assert await _scans(ctx, wait=1.0) == before
    for n in range(3):  # another address is counted on its own
        await refresh_from(http, partner, f"ktr_forged{n}", "198.18.0.8")
    await refresh_from(http, partner, "ktr_forged-more", "198.18.0.7")  # the sixth
    await refresh_from(http, partner, "ktr_forged-again", "198.18.0.7")  # no second event
    after = await _scans(ctx, more_than=len(before))
    new = after[: len(after) - len(before)]
    assert [(e.ip, e.detail["threshold"]) for e in new] == [("198.18.0.7", 5)]


async def _scans(ctx: Context, *, wait: float = 0.0, more_than: int | None = None) -> list[Event]:
    deadline = time.monotonic() + max(wait, 3.0 if more_than is not None else 0.0)
    while True:
        found = await ctx.store.page_events(
            kinds=("token_scan",),
            user_id=None,
            client_id=None,
            since=None,
            before_id=None,
            limit=100,
        )
        if more_than is not None and len(found) > more_than:
            return found
        if time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_wrong_client_secret_is_recorded(http: httpx.AsyncClient, ctx: Context) -> None:
    partner = await make_partner(ctx)
    refused = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, "not-the-secret"),
        headers={"X-Forwarded-For": "198.51.100.99"},
    )
    assert refused.status_code == 401
    [event] = await events_of(ctx, partner.client_id, "client_auth_failed")
    assert event.ip == "198.51.100.99"


async def test_the_revoke_action_ends_the_grant(
    server_database: str, tmp_path_factory: pytest.TempPathFactory, admin_ctx: Context
) -> None:
    policies = {"refresh_storm": {"action": "revoke", "threshold": 2}}
    with running_server(
        server_database,
        tmp_path_factory.mktemp("revoking"),
        KEYTURN_SIGNALS=json.dumps(policies),
    ) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            partner = await make_partner(admin_ctx)
            tokens = await tokens_from(http, partner, "192.0.2.9")
            token, answers = await chain(http, partner, tokens["refresh_token"], ["192.0.2.9"] * 3)
            assert [a.status_code for a in answers] == [200, 200, 400]
            assert answers[2].json()["reason"] == "suspected_compromise"
            # The grant is gone: the last token that was handed out no longer works.
            again = await refresh_from(http, partner, token, "192.0.2.9")
            assert again.json()["reason"] == "suspected_compromise"
    [event] = await events_of(admin_ctx, partner.client_id, "suspected_compromise")
    assert event.detail == {"signals": ["refresh_storm"], "reason": "suspected_compromise"}
