from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn import admin
from keyturn.oauth.context import Context
from keyturn.oauth.grants.base import TokenRequest, new_grant
from keyturn.oauth.issue import token_response
from keyturn.store.records import Client
from tests.support import create_database, drop_database

KEYS = ["first-encryption-key-0123456789-abcdef", "older-encryption-key-0123456789-abcdef"]


@pytest.fixture(scope="module", params=["sqlite"])
def server_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SDK does not care which database the server uses: SQLite keeps these fast."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'keyturn.db'}"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class CountingTransport(httpx.AsyncBaseTransport):
    """Forwards to the real server and counts token-endpoint calls."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.token_calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            self.token_calls += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def make_app_client(ctx: Context, **overrides: Any) -> tuple[Client, str | None]:
    spec = admin.ClientSpec(
        name="SDK test",
        scope="openid offline_access email",
        redirect_uris=overrides.pop("redirect_uris", ("http://127.0.0.1/callback",)),
        **overrides,
    )
    return await admin.create_client(ctx, spec)


async def issue(
    ctx: Context,
    client: Client,
    user_id: str | None = None,
    scope: str = "openid offline_access email",
) -> dict[str, Any]:
    """A fresh grant's token response, made through the server's own core."""
    grant = await ctx.store.create_grant(
        new_grant(
            TokenRequest(client, {}, None),
            ctx,
            user_id=user_id,
            scope=scope,
            with_refresh=True,
            auth_time=ctx.clock.now(),
        )
    )
    return token_response(ctx.keys.ring, grant, client, ctx.issuer)


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every token store the SDK offers, on real services."""
    if request.param == "memory":
        yield "memory"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tokens.db'}"
    elif request.param == "postgres":
        url = await create_database()
        yield url
        await drop_database(url)
    else:
        from tests.http.test_rate_limits import require_redis

        url = await require_redis()
        import redis.asyncio as redis

        client = redis.from_url(url)
        async for key in client.scan_iter(match="keyturn:client:*"):
            await client.delete(key)
        await client.aclose()
        yield url
