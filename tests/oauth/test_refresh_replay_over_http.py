"""A refresh retried inside the grace window, over a real server on SQLite and PostgreSQL.

The retry must get the byte-identical response of the first refresh: a client
whose answer was lost cannot tell a retry from a first attempt, and anything
else (an invalid_grant, a different token) makes SDKs sign the user out or
keep two sets of tokens although the grant is alive.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from keyturn.oauth.context import Context
from tests.http.helpers import (
    Partner,
    assert_oauth_error,
    introspect,
    make_partner,
    refresh,
    user_tokens,
)
from tests.support import ServerProcess

ES256_JWT = {"id_token_alg": "ES256", "access_token_format": "jwt"}
WITH_OPENID = "openid offline_access transfers balances"


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


async def revoke(http: httpx.AsyncClient, partner: Partner, token: str) -> None:
    response = await http.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=partner.auth,
    )
    assert response.status_code == 200, response.text


async def first_refresh(
    http: httpx.AsyncClient, partner: Partner
) -> tuple[dict[str, Any], httpx.Response]:
    tokens = await user_tokens(http, partner)
    answer = await refresh(http, partner, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    return tokens, answer


async def verify_with_jwks(http: httpx.AsyncClient, token: str) -> jwt.Token:
    """Check a JWT with joserfc, an independent implementation, against /oauth/jwks."""
    keys = KeySet.import_key_set((await http.get("/oauth/jwks")).json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.decode(token, keys, algorithms=["ES256"])


async def test_a_retry_after_revoking_the_new_access_token_gets_the_first_answer_byte_for_byte(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens, answer = await first_refresh(http, partner)
    issued = answer.json()
    await revoke(http, partner, issued["access_token"])
    retried = await refresh(http, partner, tokens["refresh_token"])
    assert retried.status_code == 200, retried.text
    assert retried.content == answer.content
    # The retry hands back the revoked token, not a fresh one: it stays dead.
    assert await introspect(http, partner, issued["access_token"]) == {"active": False}
    # The grant is alive: the new refresh token works and its access token is live.
    onward = await refresh(http, partner, issued["refresh_token"])
    assert onward.status_code == 200, onward.text
    assert (await introspect(http, partner, onward.json()["access_token"]))["active"] is True


async def test_es256_jwt_access_and_id_tokens_are_the_same_bytes_on_a_retry(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx, scope=WITH_OPENID, **ES256_JWT)
    tokens, answer = await first_refresh(http, partner)
    retried = await refresh(http, partner, tokens["refresh_token"])
    assert retried.status_code == 200, retried.text
    assert retried.content == answer.content
    issued = answer.json()
    access = await verify_with_jwks(http, issued["access_token"])
    assert (access.header["alg"], access.header["typ"]) == ("ES256", "at+jwt")
    assert access.claims["client_id"] == partner.client_id
    id_token = await verify_with_jwks(http, issued["id_token"])
    assert id_token.header["alg"] == "ES256"
    assert id_token.claims["aud"] == partner.client_id
    assert (await introspect(http, partner, issued["access_token"]))["active"] is True


async def test_es256_retry_after_revoking_the_new_jwt_access_token_is_byte_identical(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx, scope=WITH_OPENID, **ES256_JWT)
    tokens, answer = await first_refresh(http, partner)
    issued = answer.json()
    await revoke(http, partner, issued["access_token"])
    retried = await refresh(http, partner, tokens["refresh_token"])
    assert retried.status_code == 200, retried.text
    assert retried.content == answer.content
    assert await introspect(http, partner, issued["access_token"]) == {"active": False}
    await verify_with_jwks(http, issued["access_token"])
    await verify_with_jwks(http, issued["id_token"])
    onward = await refresh(http, partner, issued["refresh_token"])
    assert onward.status_code == 200, onward.text
    assert (await introspect(http, partner, onward.json()["access_token"]))["active"] is True


async def test_every_retry_in_the_window_gets_the_same_bytes_and_revoking_again_changes_nothing(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx, scope=WITH_OPENID, **ES256_JWT)
    tokens, answer = await first_refresh(http, partner)
    issued = answer.json()
    await revoke(http, partner, issued["access_token"])
    for _ in range(3):
        retried = await refresh(http, partner, tokens["refresh_token"])
        assert retried.content == answer.content
        # A confused client revoking the token it got back again: still the same answer.
        await revoke(http, partner, retried.json()["access_token"])
    assert await introspect(http, partner, issued["access_token"]) == {"active": False}


async def test_revoking_the_old_access_token_before_refreshing_does_not_disturb_the_retry(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    await revoke(http, partner, tokens["access_token"])
    answer = await refresh(http, partner, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    retried = await refresh(http, partner, tokens["refresh_token"])
    assert retried.content == answer.content
    # What the refresh issued is live: revoking the old token did not carry over.
    assert (await introspect(http, partner, answer.json()["access_token"]))["active"] is True


async def test_a_retry_after_the_new_refresh_token_was_used_is_still_reuse_after_a_revocation(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens, answer = await first_refresh(http, partner)
    issued = answer.json()
    await revoke(http, partner, issued["access_token"])
    onward = await refresh(http, partner, issued["refresh_token"])
    assert onward.status_code == 200, onward.text
    reused = await refresh(http, partner, tokens["refresh_token"])
    assert assert_oauth_error(reused, 400, "invalid_grant")["reason"] == "reuse_detected"
    assert await introspect(http, partner, onward.json()["access_token"]) == {"active": False}


async def test_a_retry_after_the_grant_was_revoked_is_refused_even_inside_the_window(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens, answer = await first_refresh(http, partner)
    issued = answer.json()
    await revoke(http, partner, issued["access_token"])
    response = await http.post(
        "/oauth/revoke", data={"token": issued["refresh_token"]}, auth=partner.auth
    )
    assert response.status_code == 200
    retried = await refresh(http, partner, tokens["refresh_token"])
    assert assert_oauth_error(retried, 400, "invalid_grant")["reason"] == "revoked_by_client"
