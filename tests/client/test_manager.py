"""The client SDK against a real keyturn server on loopback."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

import keyturn.client
from keyturn import admin
from keyturn.client import (
    AsyncTokenManager,
    ReauthorizationRequired,
    StoreDecryptionError,
    TokenManager,
    TokenRefreshError,
)
from keyturn.oauth.context import Context
from tests.client.conftest import KEYS, CountingTransport, FakeClock, issue, make_app_client
from tests.http.oidc_helpers import answer_consent, make_user, sign_in
from tests.support import ServerProcess


def manager(
    server: ServerProcess, client_id: str, secret: str | None, store: str = "memory", **options: Any
) -> AsyncTokenManager:
    return AsyncTokenManager(
        issuer=server.base_url,
        client_id=client_id,
        client_secret=secret,
        store=store,
        encryption_keys=options.pop("keys", KEYS),
        retry_backoff=0.001,
        **options,
    )


def account() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


async def test_exported_members() -> None:
    assert set(keyturn.client.__all__) >= {
        "TokenManager",
        "AsyncTokenManager",
        "ReauthorizationRequired",
        "TokenRefreshError",
    }
    for name in keyturn.client.__all__:
        assert hasattr(keyturn.client, name)


async def test_token_is_served_until_due_then_refreshed(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock, store_url: str
) -> None:
    client, secret = await make_app_client(admin_ctx)
    counting = CountingTransport()
    tm = manager(server, client.client_id, secret, store_url, clock=clock, transport=counting)
    who = account()
    first = await issue(admin_ctx, client)
    await tm.save(who, first)
    assert await tm.access_token(who) == first["access_token"]
    clock.advance(12 * 3600 - 200)  # inside the margin (a tenth, at most 5 minutes)
    fresh = await tm.access_token(who)
    assert fresh != first["access_token"]
    assert counting.token_calls == 1
    assert await tm.access_token(who) == fresh
    assert counting.token_calls == 1
    await tm.aclose()


async def test_expired_token_is_never_sent(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    client, secret = await make_app_client(admin_ctx)
    tm = manager(
        server,
        client.client_id,
        secret,
        clock=clock,
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
    )
    who = account()
    await tm.save(who, await issue(admin_ctx, client))
    clock.advance(12 * 3600 + 1)
    with pytest.raises(TokenRefreshError):
        await tm.access_token(who)
    # ... and the tokens are kept for the next attempt.
    assert (await tm.token.__self__._read(who)) is not None  # type: ignore[attr-defined]
    await tm.aclose()


async def test_a_string_expires_in_is_never_sent_after_expiry(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    """Some servers send expires_in as "3600"; the token still expires on time."""
    client, secret = await make_app_client(admin_ctx)
    counting = CountingTransport()
    tm = manager(server, client.client_id, secret, clock=clock, transport=counting)
    who = account()
    first = await issue(admin_ctx, client)
    await tm.save(who, {**first, "expires_in": str(first["expires_in"])})
    assert await tm.access_token(who) == first["access_token"]
    clock.advance(first["expires_in"] + 1)
    fresh = await tm.access_token(who)
    assert fresh != first["access_token"] and counting.token_calls == 1
    await tm.aclose()


async def test_server_errors_keep_a_still_valid_token(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    client, secret = await make_app_client(admin_ctx)
    calls = []

    def failing(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.startswith("/.well-known"):
            return httpx.Response(
                200,
                json={
                    "issuer": server.base_url,
                    "token_endpoint": f"{server.base_url}/oauth/token",
                },
            )
        raise httpx.ConnectError("down")

    tm = manager(
        server, client.client_id, secret, clock=clock, transport=httpx.MockTransport(failing)
    )
    who = account()
    first = await issue(admin_ctx, client)
    await tm.save(who, first)
    clock.advance(12 * 3600 - 100)  # due, not expired
    assert await tm.access_token(who) == first["access_token"]
    assert calls.count("/oauth/token") == 4  # retried with back-off, then gave up for now
    await tm.aclose()


async def test_invalid_grant_clears_tokens_calls_back_and_raises(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock, store_url: str
) -> None:
    client, secret = await make_app_client(admin_ctx)
    called: list[str] = []
    tm = manager(
        server,
        client.client_id,
        secret,
        store_url,
        clock=clock,
        on_reauthorization_required=called.append,
    )
    who = account()
    await tm.save(who, await issue(admin_ctx, client))
    await admin.revoke_grants(
        admin_ctx, grant_id=None, email=None, client_id=client.client_id, reason="test"
    )
    clock.advance(12 * 3600)
    with pytest.raises(ReauthorizationRequired) as caught:
        await tm.access_token(who)
    assert (caught.value.account, caught.value.reason) == (who, "revoked_by_admin")
    assert called == [who]
    with pytest.raises(ReauthorizationRequired) as again:
        await tm.access_token(who)
    assert again.value.reason == "no_tokens"
    await tm.aclose()


async def test_429_waits_for_retry_after(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    client, secret = await make_app_client(admin_ctx)
    real = httpx.AsyncHTTPTransport()
    limited = {"left": 1}

    class RateLimited(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/oauth/token" and limited["left"]:
                limited["left"] -= 1
                return httpx.Response(
                    429, headers={"Retry-After": "1"}, json={"error": "slow_down"}
                )
            return await real.handle_async_request(request)

        async def aclose(self) -> None:
            await real.aclose()

    tm = manager(server, client.client_id, secret, clock=clock, transport=RateLimited())
    who = account()
    first = await issue(admin_ctx, client)
    await tm.save(who, first)
    clock.advance(12 * 3600)
    started = time.monotonic()
    assert await tm.access_token(who) != first["access_token"]
    assert time.monotonic() - started >= 0.9
    await tm.aclose()


async def test_lost_response_is_retried_with_the_same_refresh_token(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    client, secret = await make_app_client(admin_ctx)
    real = httpx.AsyncHTTPTransport()
    sent: list[str] = []

    class DropsFirstResponse(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await real.handle_async_request(request)
            if request.url.path == "/oauth/token":
                sent.append(request.content.decode())
                await response.aread()
                if len(sent) == 1:
                    raise httpx.ReadError("connection reset after the server answered")
            return response

        async def aclose(self) -> None:
            await real.aclose()

    tm = manager(server, client.client_id, secret, clock=clock, transport=DropsFirstResponse())
    who = account()
    await tm.save(who, await issue(admin_ctx, client))
    clock.advance(12 * 3600)
    await tm.access_token(who)
    assert len(sent) == 2 and sent[0] == sent[1]  # the same refresh token, twice
    clock.advance(12 * 3600)
    await tm.access_token(who)  # the successor works: the retry was not taken for theft
    await tm.aclose()


async def test_single_flight_across_tasks(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock, store_url: str
) -> None:
    client, secret = await make_app_client(admin_ctx)
    counting = CountingTransport()
    tm = manager(server, client.client_id, secret, store_url, clock=clock, transport=counting)
    who = account()
    await tm.save(who, await issue(admin_ctx, client))
    clock.advance(12 * 3600)
    tokens = await asyncio.gather(*(tm.access_token(who) for _ in range(50)))
    assert len(set(tokens)) == 1
    assert counting.token_calls == 1
    await tm.aclose()


async def test_single_flight_across_threads(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock, tmp_path: Path
) -> None:
    client, secret = await make_app_client(admin_ctx)
    counting = CountingTransport()
    who = account()
    response = await issue(admin_ctx, client)
    tm = TokenManager(
        issuer=server.base_url,
        client_id=client.client_id,
        client_secret=secret,
        store=f"sqlite:///{tmp_path / 'tokens.db'}",
        encryption_keys=KEYS,
        clock=clock,
        transport=counting,
    )
    await asyncio.to_thread(tm.save, who, response)
    clock.advance(12 * 3600)
    results: list[str] = []
    barrier = threading.Barrier(32)

    def worker() -> None:
        barrier.wait()
        results.append(tm.access_token(who))

    threads = [threading.Thread(target=worker) for _ in range(32)]

    def run_all() -> None:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    await asyncio.to_thread(run_all)
    assert len(results) == 32 and len(set(results)) == 1
    assert counting.token_calls == 1
    await asyncio.to_thread(tm.close)


async def test_httpx_auth_refreshes_once_after_a_401(
    server: ServerProcess, admin_ctx: Context
) -> None:
    client, secret = await make_app_client(admin_ctx)
    user = await admin.create_user(admin_ctx, f"{uuid.uuid4().hex[:8]}@example.com", None)
    first = await issue(admin_ctx, client, user.user_id)
    tm = manager(server, client.client_id, secret)
    who = account()
    await tm.save(who, first)
    async with httpx.AsyncClient(base_url=server.base_url, auth=tm.auth(who)) as api:
        assert (await api.get("/oauth/userinfo")).json()["sub"] == user.user_id
        # The server retires the access token behind the SDK's back.
        await api.post(
            "/oauth/revoke",
            data={"token": first["access_token"]},
            auth=(client.client_id, secret or ""),
        )
        response = await api.get("/oauth/userinfo")
    assert response.status_code == 200 and response.json()["sub"] == user.user_id
    assert await tm.access_token(who) != first["access_token"]
    await tm.aclose()


async def test_sync_httpx_auth(server: ServerProcess, admin_ctx: Context) -> None:
    client, secret = await make_app_client(admin_ctx)
    user = await admin.create_user(admin_ctx, f"{uuid.uuid4().hex[:8]}@example.com", None)
    response = await issue(admin_ctx, client, user.user_id)

    def run() -> int:
        with TokenManager(
            issuer=server.base_url, client_id=client.client_id, client_secret=secret, store="memory"
        ) as tm:
            tm.save("me", response)
            with httpx.Client(base_url=server.base_url, auth=tm.auth("me")) as api:
                return api.get("/oauth/userinfo").status_code

    assert await asyncio.to_thread(run) == 200


async def test_revoke_revokes_at_the_server_and_forgets(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    client, secret = await make_app_client(admin_ctx)
    tm = manager(server, client.client_id, secret, clock=clock)
    who = account()
    first = await issue(admin_ctx, client)
    await tm.save(who, first)
    await tm.revoke(who)
    await tm.revoke(who)  # safe to repeat
    with pytest.raises(ReauthorizationRequired):
        await tm.access_token(who)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        dead = await http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            auth=(client.client_id, secret or ""),
        )
    assert dead.json()["reason"] == "revoked_by_client"
    await tm.aclose()


async def test_store_bytes_contain_no_token(
    server: ServerProcess, admin_ctx: Context, store_url: str, tmp_path: Path
) -> None:
    if store_url == "memory":
        pytest.skip("the memory store never leaves the process")
    client, secret = await make_app_client(admin_ctx)
    tm = manager(server, client.client_id, secret, store_url)
    who = account()
    user = await admin.create_user(admin_ctx, f"{uuid.uuid4().hex[:8]}@example.com", None)
    response = await issue(admin_ctx, client, user.user_id)
    await tm.save(who, response)
    await tm.aclose()
    secrets_ = [response["access_token"], response["refresh_token"], response["id_token"]]
    if store_url.startswith("sqlite"):
        raw = b"".join(path.read_bytes() for path in tmp_path.glob("tokens.db*"))
    elif store_url.startswith("postgres"):
        conn = await asyncpg.connect(store_url)
        rows = await conn.fetch("SELECT account, record FROM keyturn_client_tokens")
        await conn.close()
        raw = b"".join(bytes(row["record"]) + row["account"].encode() for row in rows)
    else:
        r = redis.from_url(store_url)
        values = [await r.get(key) async for key in r.scan_iter("keyturn:client:*")]
        raw = b"".join(value for value in values if isinstance(value, bytes))
        await r.aclose()
    assert raw, "nothing was stored"
    for secret_value in secrets_:
        assert secret_value.encode() not in raw
        assert secret_value[4:24].encode() not in raw


async def test_keys_rotate_and_records_reencrypt(
    server: ServerProcess, admin_ctx: Context, tmp_path: Path
) -> None:
    client, secret = await make_app_client(admin_ctx)
    store = f"sqlite:///{tmp_path / 'tokens.db'}"
    old_only = manager(server, client.client_id, secret, store, keys=[KEYS[1]])
    await old_only.save("a", await issue(admin_ctx, client))
    await old_only.aclose()
    rotated = manager(server, client.client_id, secret, store, keys=KEYS)
    assert await rotated.access_token("a")  # still opens under the older key
    assert await rotated.reencrypt() == 1
    assert await rotated.reencrypt() == 0
    await rotated.aclose()
    new_only = manager(server, client.client_id, secret, store, keys=[KEYS[0]])
    assert await new_only.access_token("a")
    await new_only.aclose()
    stranger = manager(
        server, client.client_id, secret, store, keys=["some-other-key-entirely-0123456789abc"]
    )
    with pytest.raises(StoreDecryptionError):
        await stranger.access_token("a")
    await stranger.aclose()


async def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="encryption_keys"):
        AsyncTokenManager(issuer="https://x", client_id="c", store="sqlite:///t.db")
    with pytest.raises(ValueError, match="32"):
        AsyncTokenManager(
            issuer="https://x", client_id="c", store="memory", encryption_keys=["short"]
        )
    with pytest.raises(ValueError, match="issuer"):
        AsyncTokenManager(client_id="c", store="memory")


async def test_authorization_code_helpers(server: ServerProcess, admin_ctx: Context) -> None:
    # A confidential client gets no any-port loopback rule: register the exact URI.
    client, secret = await make_app_client(
        admin_ctx, redirect_uris=("http://127.0.0.1:8123/callback",)
    )
    email = await make_user(admin_ctx)
    tm = manager(server, client.client_id, secret)
    start = await tm.authorization_url("http://127.0.0.1:8123/callback")
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await sign_in(browser, email, "correct horse battery")
        page = await browser.get(start.url)
        decided = await answer_consent(browser, page)
    callback = dict(httpx.URL(decided.headers["location"]).params)
    with pytest.raises(ValueError, match="state"):
        await tm.complete_authorization("me", start, {**callback, "state": "forged"})
    record = await tm.complete_authorization("me", start, callback)
    assert record.refresh_token and record.id_token
    assert await tm.access_token("me") == record.access_token
    await tm.aclose()


async def test_background_refresh_serves_the_current_token_meanwhile(
    server: ServerProcess, admin_ctx: Context, clock: FakeClock
) -> None:
    client, secret = await make_app_client(admin_ctx)
    counting = CountingTransport()
    tm = manager(
        server, client.client_id, secret, clock=clock, transport=counting, background_refresh=True
    )
    who = account()
    first = await issue(admin_ctx, client)
    await tm.save(who, first)
    clock.advance(12 * 3600 - 200)  # due, still valid
    assert await tm.access_token(who) == first["access_token"]  # served at once
    for _ in range(100):  # let the background task finish
        if counting.token_calls and await tm.access_token(who) != first["access_token"]:
            break
        await asyncio.sleep(0.01)
    assert await tm.access_token(who) != first["access_token"]
    assert counting.token_calls == 1
    await tm.aclose()


def test_jwt_exp_is_moved_to_local_time_with_the_server_skew() -> None:
    import base64
    import json

    from keyturn.client import TokenRecord

    claims = base64.urlsafe_b64encode(json.dumps({"exp": 10_000}).encode()).rstrip(b"=").decode()
    jwt_token = f"eyJhbGciOiJub25lIn0.{claims}.sig"
    # The server's clock is 100 s ahead of ours: exp 10,000 there is 9,900 here.
    record = TokenRecord.from_response({"access_token": jwt_token}, now=9_000, server_skew=100)
    assert record.expires_at == 9_900
    assert record.refresh_at is not None and record.refresh_at < 9_900
    opaque = TokenRecord.from_response({"access_token": "kta_x"}, now=9_000)
    assert opaque.expires_at is None and not opaque.due(10**12)
