"""Many concurrent refreshes of one token: one winner, everyone gets its response."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from keyturn.config import Secret, Settings
from keyturn.runtime import open_context
from keyturn.store import open_store
from tests.http.helpers import Partner, make_partner, refresh, user_tokens
from tests.support import SECRET_KEY, create_database, drop_database, running_server

CONCURRENCY = 32


async def storm(
    clients: list[httpx.AsyncClient], partner: Partner, token: str
) -> list[httpx.Response]:
    """Fire CONCURRENCY refreshes of one token at once, spread over the clients."""
    start = asyncio.Event()

    async def one(index: int) -> httpx.Response:
        await start.wait()
        return await refresh(clients[index % len(clients)], partner, token)

    tasks = [asyncio.create_task(one(i)) for i in range(CONCURRENCY)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


def assert_identical_successes(responses: list[httpx.Response]) -> None:
    assert [r.status_code for r in responses] == [200] * CONCURRENCY, [
        r.text for r in responses if r.status_code != 200
    ]
    bodies = {r.text for r in responses}
    assert len(bodies) == 1, f"{len(bodies)} different responses"


async def test_32_concurrent_refreshes_get_the_identical_response(
    http: httpx.AsyncClient, admin_ctx: object
) -> None:
    from keyturn.oauth.context import Context

    assert isinstance(admin_ctx, Context)
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=http.base_url, limits=limits, timeout=30) as burst:
        responses = await storm([burst], partner, tokens["refresh_token"])
    assert_identical_successes(responses)
    new_token = responses[0].json()["refresh_token"]
    # The winner's successor works, so nothing was mistaken for reuse.
    assert (await refresh(http, partner, new_token)).status_code == 200


async def test_two_server_processes_on_one_postgres_agree(tmp_path: Path) -> None:
    url = await create_database()
    try:
        with (
            running_server(url, tmp_path / "a") as first,
            running_server(url, tmp_path / "b") as second,
        ):
            settings = Settings(
                database=url, data_dir=str(tmp_path / "a"), secret_key=Secret(SECRET_KEY)
            )
            store = await open_store(url, listen=False)
            try:
                ctx = await open_context(settings, store=store)
                partner = await make_partner(ctx)
            finally:
                await store.close()
            limits = httpx.Limits(max_connections=CONCURRENCY)
            async with (
                httpx.AsyncClient(base_url=first.base_url, limits=limits, timeout=30) as a,
                httpx.AsyncClient(base_url=second.base_url, limits=limits, timeout=30) as b,
            ):
                tokens = await user_tokens(a, partner)
                responses = await storm([a, b], partner, tokens["refresh_token"])
                assert_identical_successes(responses)
                successor = responses[0].json()["refresh_token"]
                assert (await refresh(b, partner, successor)).status_code == 200
                # Reuse detected on one instance is final on the other.
                reused = await refresh(a, partner, tokens["refresh_token"])
                assert reused.json()["reason"] == "reuse_detected"
                assert (await refresh(b, partner, successor)).json()["reason"] == "reuse_detected"
    finally:
        await drop_database(url)
