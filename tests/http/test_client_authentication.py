"""Every endpoint that authenticates a client refuses a disabled one, and one without
credentials, with 401 invalid_client (RFC 6749 §5.2), before it reads any token."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from keyturn import admin
from keyturn.oauth.context import Context
from tests.http.helpers import Partner, assert_oauth_error, make_partner, refresh, user_tokens

ENDPOINTS = ["/oauth/revoke", "/oauth/introspect"]


async def disable(http: httpx.AsyncClient, ctx: Context, partner: Partner) -> None:
    """Disable the client and wait (bounded) until the server has heard of it: a change
    reaches a running PostgreSQL instance's client cache by NOTIFY, a moment later."""
    await admin.disable_client(ctx, partner.client_id)
    for _ in range(100):
        probe = await http.post("/oauth/introspect", data={"token": "x"}, auth=partner.auth)
        if probe.status_code == 401:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the disabled client still authenticates after 2 s")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_disabled_client_cannot_read_or_revoke_tokens(
    http: httpx.AsyncClient, admin_ctx: Context, path: str
) -> None:
    victim = await make_partner(admin_ctx)
    tokens = await user_tokens(http, victim)
    disabled = await make_partner(admin_ctx)
    await disable(http, admin_ctx, disabled)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        basic = await http.post(path, data={"token": token}, auth=disabled.auth)
        assert_oauth_error(basic, 401, "invalid_client")
        assert basic.headers["www-authenticate"].startswith("Basic")
        post = await http.post(
            path,
            data={
                "token": token,
                "client_id": disabled.client_id,
                "client_secret": disabled.client_secret,
            },
        )
        body = assert_oauth_error(post, 401, "invalid_client")
        assert "sub" not in body and "scope" not in body
    assert (await refresh(http, victim, tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_disabled_client_cannot_introspect_or_revoke_its_own_tokens(
    http: httpx.AsyncClient, admin_ctx: Context, path: str
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    await disable(http, admin_ctx, partner)
    response = await http.post(path, data={"token": tokens["access_token"]}, auth=partner.auth)
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("path", [*ENDPOINTS, "/oauth/token"])
@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"headers": {"Authorization": "Basic"}},
        {"headers": {"Authorization": "Bearer abc"}},
        {"data": {"client_secret": "only-a-secret"}},
        {"data": {"client_id": ""}},
    ],
    ids=["none", "empty-basic", "bearer", "secret-only", "empty-id"],
)
async def test_missing_client_credentials_are_invalid_client(
    http: httpx.AsyncClient, path: str, credentials: dict[str, dict[str, str]]
) -> None:
    data = {"token": "ktr_x", "grant_type": "refresh_token", "refresh_token": "ktr_x"}
    data.update(credentials.get("data", {}))
    response = await http.post(path, data=data, headers=credentials.get("headers"))
    assert response.status_code in (400, 401), response.text
    if response.status_code == 401:
        assert response.json()["error"] == "invalid_client"
    else:  # a malformed Authorization header is a malformed request
        assert response.json()["error"] == "invalid_request"
    if not credentials:
        assert_oauth_error(response, 401, "invalid_client")


async def test_a_client_revoking_its_own_grant_is_reported_as_the_client(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    revoked = await http.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=partner.auth
    )
    assert revoked.status_code == 200
    body = assert_oauth_error(
        await refresh(http, partner, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert body["reason"] == "revoked_by_client"
