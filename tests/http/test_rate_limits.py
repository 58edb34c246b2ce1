"""Rate limits shared by every instance through a real Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import redis.asyncio as redis

from keyturn.config import Secret, Settings
from keyturn.runtime import open_context
from keyturn.store import open_store
from tests.http.helpers import make_partner, refresh, user_tokens
from tests.support import (
    REDIS_URL,
    SECRET_KEY,
    away_from_minute_edge,
    create_database,
    drop_database,
    running_server,
    unavailable,
)


async def require_redis() -> str:
    """A fresh logical database URL on the test Redis, or skip/fail as CI demands."""
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        unavailable("Redis", exc)
    finally:
        await client.aclose()
    return REDIS_URL


async def test_limit_is_shared_across_two_instances(tmp_path: Path) -> None:
    redis_url = await require_redis()
    url = await create_database()
    try:
        with (
            running_server(
                url, tmp_path / "a", KEYTURN_REDIS=redis_url, KEYTURN_REFRESH_TOKEN_RATE="40"
            ) as first,
            running_server(
                url, tmp_path / "b", KEYTURN_REDIS=redis_url, KEYTURN_REFRESH_TOKEN_RATE="40"
            ) as second,
        ):
            store = await open_store(url, listen=False)
            try:
                ctx = await open_context(
                    Settings(
                        database=url,
                        secret_key=Secret(SECRET_KEY),
                        data_dir=str(tmp_path / "admin"),
                    ),
                    store=store,
                )
                partner = await make_partner(ctx, rotation=False)
            finally:
                await store.close()
            async with (
                httpx.AsyncClient(base_url=first.base_url) as a,
                httpx.AsyncClient(base_url=second.base_url) as b,
            ):
                tokens = await user_tokens(a, partner)
                away_from_minute_edge()
                statuses = []
                for index in range(45):
                    response = await refresh(
                        a if index % 2 else b, partner, tokens["refresh_token"]
                    )
                    statuses.append(response.status_code)
            # Alone, each instance saw about 22 requests, under its limit of 40;
            # only a count shared in Redis reaches 40.
            assert statuses[:40] == [200] * 40
            assert set(statuses[40:]) == {429}
    finally:
        await drop_database(url)


async def test_rate_limit_keys_live_in_redis(tmp_path: Path) -> None:
    redis_url = await require_redis()
    marker = uuid.uuid4().hex
    client = redis.from_url(redis_url)
    try:
        before = {key async for key in client.scan_iter(match="LIMITS:*")}
        with running_server(
            f"sqlite:///{tmp_path / marker}.db", tmp_path / "data", KEYTURN_REDIS=redis_url
        ) as server:
            store = await open_store(f"sqlite:///{tmp_path / marker}.db")
            try:
                ctx = await open_context(
                    Settings(secret_key=Secret(SECRET_KEY), data_dir=str(tmp_path / "data")),
                    store=store,
                )
                partner = await make_partner(ctx)
            finally:
                await store.close()
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                tokens = await user_tokens(http, partner)
                assert (await refresh(http, partner, tokens["refresh_token"])).status_code == 200
        after = {key async for key in client.scan_iter(match="LIMITS:*")}
        assert after - before, "no rate-limit counter was written to Redis"
    finally:
        await client.aclose()
