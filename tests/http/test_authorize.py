"""The authorization code flow with PKCE and OpenID Connect, over real HTTP."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from keyturn import admin
from keyturn.config import Secret, Settings, master_secret
from keyturn.oauth.context import Context
from tests.http.helpers import assert_oauth_error, introspect, refresh
from tests.http.oidc_helpers import (
    REDIRECT,
    Pkce,
    WebApp,
    authorize,
    authorize_params,
    exchange,
    hidden,
    make_user,
    make_web_app,
    query_of,
    sign_in,
)
from tests.support import SECRET_KEY, ServerProcess, running_server


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def signed_in(browser: httpx.AsyncClient, admin_ctx: Context) -> httpx.AsyncClient:
    email = await make_user(admin_ctx)
    response = await sign_in(browser, email, "correct horse battery")
    assert response.status_code == 303, response.text
    return browser


async def verify_id_token(http: httpx.AsyncClient, token: str, app: WebApp) -> dict[str, object]:
    """Check an ID token with joserfc against the server's published JWKS."""
    keys = KeySet.import_key_set((await http.get("/oauth/jwks")).json())
    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864); the issue asks for EdDSA.
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256", "EdDSA"])
    claims: dict[str, object] = dict(decoded.claims)
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": str(http.base_url).rstrip("/")},
        aud={"essential": True, "value": app.client_id},
        sub={"essential": True},
    ).validate(decoded.claims)
    return claims


async def code_flow(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, app: WebApp, **extra: str
) -> dict[str, object]:
    pkce = Pkce.new()
    params = authorize_params(app, pkce, **extra)
    answer = await authorize(browser, params)
    assert answer["state"] == params["state"]
    assert answer["iss"] == str(http.base_url).rstrip("/")
    response = await exchange(http, app, answer["code"], pkce)
    assert response.status_code == 200, response.text
    tokens: dict[str, object] = response.json()
    tokens["nonce_sent"] = params["nonce"]
    return tokens


async def test_code_flow_issues_tokens_and_an_id_token(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    tokens = await code_flow(http, signed_in, app)
    assert str(tokens["refresh_token"]).startswith("ktr_")
    claims = await verify_id_token(http, str(tokens["id_token"]), app)
    assert claims["nonce"] == tokens["nonce_sent"]
    assert "at_hash" in claims and "auth_time" in claims

    refreshed = await refresh(http, app, str(tokens["refresh_token"]))  # type: ignore[arg-type]
    assert refreshed.status_code == 200, refreshed.text
    again = await verify_id_token(http, refreshed.json()["id_token"], app)
    for claim in ("iss", "sub", "aud", "auth_time"):
        assert again[claim] == claims[claim]
    assert "nonce" not in again

    info = await http.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and "@example.com" in info.json()["email"]


async def test_without_offline_access_there_is_no_refresh_token(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    tokens = await code_flow(http, signed_in, app, scope="openid email")
    assert "refresh_token" not in tokens
    assert "id_token" in tokens


async def test_consent_is_remembered_unless_prompt_consent(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    await code_flow(http, signed_in, app)
    second = await signed_in.get("/oauth/authorize", params=authorize_params(app, Pkce.new()))
    assert second.status_code == 302 and "code=" in second.headers["location"]
    forced = await signed_in.get(
        "/oauth/authorize", params=authorize_params(app, Pkce.new(), prompt="consent")
    )
    assert forced.status_code == 200 and "Allow" in forced.text


async def test_deny_redirects_access_denied(
    signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    params = authorize_params(app, Pkce.new())
    answer = await authorize(signed_in, params, decision="deny")
    assert answer["error"] == "access_denied" and answer["state"] == params["state"]


async def test_pkce_failures(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    pkce = Pkce.new()
    answer = await authorize(signed_in, authorize_params(app, pkce))
    wrong = await exchange(http, app, answer["code"], Pkce.new())
    assert_oauth_error(wrong, 400, "invalid_grant")
    missing = await exchange(http, app, answer["code"], None)
    assert_oauth_error(missing, 400, "invalid_grant")
    assert (await exchange(http, app, answer["code"], pkce)).status_code == 200

    plain = await signed_in.get(
        "/oauth/authorize",
        params=authorize_params(
            app, None, code_challenge=pkce.verifier, code_challenge_method="plain"
        ),
    )
    assert query_of(plain.headers["location"])["error"] == "invalid_request"

    public = await make_web_app(admin_ctx, public=True)
    no_pkce = await signed_in.get("/oauth/authorize", params=authorize_params(public, None))
    assert query_of(no_pkce.headers["location"])["error"] == "invalid_request"


async def test_unregistered_redirect_uri_shows_a_page_and_never_redirects(
    signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    response = await signed_in.get(
        "/oauth/authorize",
        params=authorize_params(app, Pkce.new(), redirect_uri="https://evil.example/callback"),
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect URI is not registered" in response.text
    unknown = await signed_in.get(
        "/oauth/authorize", params={"client_id": "nope", "response_type": "code"}
    )
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def test_redirect_uri_must_match_at_exchange(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx, redirect_uris=(REDIRECT, "https://app.example/other"))
    pkce = Pkce.new()
    answer = await authorize(signed_in, authorize_params(app, pkce))
    response = await exchange(
        http, app, answer["code"], pkce, redirect_uri="https://app.example/other"
    )
    assert_oauth_error(response, 400, "invalid_grant")


async def test_code_replay_revokes_the_grant(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    pkce = Pkce.new()
    answer = await authorize(signed_in, authorize_params(app, pkce))
    first = await exchange(http, app, answer["code"], pkce)
    assert first.status_code == 200
    replay = await exchange(http, app, answer["code"], pkce)
    assert assert_oauth_error(replay, 400, "invalid_grant")["reason"] == "reuse_detected"
    assert await introspect(http, app, first.json()["access_token"]) == {"active": False}  # type: ignore[arg-type]
    dead = await refresh(http, app, first.json()["refresh_token"])  # type: ignore[arg-type]
    assert assert_oauth_error(dead, 400, "invalid_grant")["reason"] == "reuse_detected"


async def test_prompt_none_without_a_session_is_login_required(
    browser: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    params = authorize_params(app, Pkce.new(), prompt="none")
    response = await browser.get("/oauth/authorize", params=params)
    assert response.status_code == 302
    answer = query_of(response.headers["location"])
    assert answer["error"] == "login_required" and answer["state"] == params["state"]
    without = await browser.get("/oauth/authorize", params=authorize_params(app, Pkce.new()))
    assert without.status_code == 302 and without.headers["location"].startswith("/login?")


async def test_prompt_none_without_consent_is_consent_required(
    signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    response = await signed_in.get(
        "/oauth/authorize", params=authorize_params(app, Pkce.new(), prompt="none")
    )
    assert query_of(response.headers["location"])["error"] == "consent_required"


async def test_loopback_redirect_accepts_any_port(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx, public=True, redirect_uris=("http://127.0.0.1/callback",))
    pkce = Pkce.new()
    redirect = "http://127.0.0.1:53127/callback"
    answer = await authorize(signed_in, authorize_params(app, pkce, redirect_uri=redirect))
    response = await exchange(http, app, answer["code"], pkce, redirect_uri=redirect)
    assert response.status_code == 200, response.text
    other_path = await signed_in.get(
        "/oauth/authorize",
        params=authorize_params(app, pkce, redirect_uri="http://127.0.0.1:53127/elsewhere"),
    )
    assert other_path.status_code == 400


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_other_signing_algorithms(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context, alg: str
) -> None:
    app = await make_web_app(admin_ctx, id_token_alg=alg)
    tokens = await code_flow(http, signed_in, app)
    claims = await verify_id_token(http, str(tokens["id_token"]), app)
    assert claims["aud"] == app.client_id


async def test_jwt_access_tokens_verify_with_jwks_and_die_on_refresh(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx, access_token_format="jwt")
    tokens = await code_flow(http, signed_in, app)
    access = str(tokens["access_token"])
    keys = KeySet.import_key_set((await http.get("/oauth/jwks")).json())
    decoded = jwt.decode(access, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["client_id"] == app.client_id
    assert (await introspect(http, app, access))["active"] is True  # type: ignore[arg-type]
    await refresh(http, app, str(tokens["refresh_token"]))  # type: ignore[arg-type]
    assert await introspect(http, app, access) == {"active": False}  # type: ignore[arg-type]


async def test_signing_key_rotation_keeps_old_tokens_verifiable(
    http: httpx.AsyncClient,
    signed_in: httpx.AsyncClient,
    admin_ctx: Context,
    server: ServerProcess,
    tmp_path: Path,
) -> None:
    app = await make_web_app(admin_ctx)
    before = await code_flow(http, signed_in, app)
    old_kid = jws.extract_compact(str(before["id_token"]).encode()).headers()["kid"]
    settings = Settings(data_dir=str(server.data_dir), secret_key=Secret(SECRET_KEY))
    await admin.rotate_keys(admin_ctx, master_secret(settings))
    # A fresh instance on the same database signs with the new key and still
    # publishes (and accepts) everything signed with the old one.
    with running_server(server.database, tmp_path / "second") as second:
        async with (
            httpx.AsyncClient(base_url=second.base_url) as http2,
            httpx.AsyncClient(base_url=second.base_url) as browser2,
        ):
            email = await make_user(admin_ctx)
            assert (await sign_in(browser2, email, "correct horse battery")).status_code == 303
            after = await code_flow(http2, browser2, app)
            new_kid = jws.extract_compact(str(after["id_token"]).encode()).headers()["kid"]
            assert new_kid != old_kid
            kids = {key["kid"] for key in (await http2.get("/oauth/jwks")).json()["keys"]}
            assert {old_kid, new_kid} <= kids
            # Verified against the new instance's JWKS; the iss is the first server's
            # for the old token, so check signature and audience only there.
            await verify_id_token(http2, str(after["id_token"]), app)
            keys = KeySet.import_key_set((await http2.get("/oauth/jwks")).json())
            assert jwt.decode(str(before["id_token"]), keys).claims["aud"] == app.client_id
            # Tokens MACed under the old key keep refreshing on the new instance.
            refreshed = await refresh(http2, app, str(before["refresh_token"]))  # type: ignore[arg-type]
            assert refreshed.status_code == 200, refreshed.text


async def test_max_age_and_prompt_login_ask_for_a_fresh_sign_in(
    signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    await code_flow_consent(signed_in, app)
    for extra in ({"max_age": "0"}, {"prompt": "login"}):
        response = await signed_in.get(
            "/oauth/authorize", params=authorize_params(app, Pkce.new(), **extra)
        )
        assert response.status_code == 302 and response.headers["location"].startswith("/login?")
        # The way back drops prompt=login, or signing in would loop.
        assert "prompt%3Dlogin" not in response.headers["location"]
    relaxed = await signed_in.get(
        "/oauth/authorize", params=authorize_params(app, Pkce.new(), max_age="3600")
    )
    assert relaxed.status_code == 302 and "code=" in relaxed.headers["location"]
    bad = await signed_in.get(
        "/oauth/authorize", params=authorize_params(app, Pkce.new(), max_age="soon")
    )
    assert query_of(bad.headers["location"])["error"] == "invalid_request"


async def code_flow_consent(browser: httpx.AsyncClient, app: WebApp) -> None:
    """Consent once so later requests skip the page."""
    await authorize(browser, authorize_params(app, Pkce.new()))


async def test_max_age_zero_asks_for_one_fresh_sign_in_then_issues_the_code(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, admin_ctx: Context
) -> None:
    """OIDC Core §3.1.2.1: max_age=0 means sign in again now, once; not forever."""
    email = await make_user(admin_ctx)
    assert (await sign_in(browser, email, "correct horse battery")).status_code == 303
    app = await make_web_app(admin_ctx)
    await code_flow_consent(browser, app)
    pkce = Pkce.new()
    to_login = await browser.get(
        "/oauth/authorize", params=authorize_params(app, pkce, max_age="0")
    )
    assert to_login.status_code == 302 and to_login.headers["location"].startswith("/login?")
    page = await browser.get(to_login.headers["location"])
    signed_again_at = time.time()
    signed = await browser.post(
        "/login",
        data={
            "email": email,
            "password": "correct horse battery",
            "csrf": hidden(page.text, "csrf"),
            "return_to": hidden(page.text, "return_to"),
        },
    )
    assert signed.status_code == 303, signed.text
    back = await browser.get(signed.headers["location"])
    assert back.status_code == 302, back.text
    location = back.headers["location"]
    assert location.startswith(REDIRECT), f"sent back to {location} instead of the client"
    tokens = await exchange(http, app, query_of(location)["code"], pkce)
    claims = await verify_id_token(http, tokens.json()["id_token"], app)
    assert int(str(claims["auth_time"])) >= int(signed_again_at)


async def test_id_tokens_say_how_the_user_signed_in(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    tokens = await code_flow(http, signed_in, app)
    claims = await verify_id_token(http, str(tokens["id_token"]), app)
    assert (claims["acr"], claims["amr"]) == ("urn:keyturn:loa:1", ["pwd"])
    refreshed = await refresh(http, app, str(tokens["refresh_token"]))  # type: ignore[arg-type]
    again = await verify_id_token(http, refreshed.json()["id_token"], app)
    assert (again["acr"], again["amr"]) == ("urn:keyturn:loa:1", ["pwd"])  # kept on refresh
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["acr_values_supported"] == ["urn:keyturn:loa:1", "urn:keyturn:loa:2"]
    assert {"acr", "amr"} <= set(metadata["claims_supported"])


async def test_requiring_a_second_factor_ends_grants_issued_without_one(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    """The policy changes on the client; no grant is scanned: each level-1 grant fails at
    its next use, its access token at once, and its retry inside the grace window too."""
    from keyturn.operations.clients import update_client

    app = await make_web_app(admin_ctx)
    tokens = await code_flow(http, signed_in, app)
    refreshed = await refresh(http, app, str(tokens["refresh_token"]))  # type: ignore[arg-type]
    assert refreshed.status_code == 200
    access = refreshed.json()["access_token"]
    await update_client(admin_ctx, app.client_id, {"require_mfa": True}, actor="cli")
    deadline = time.monotonic() + 5  # another instance's cache hears of it by notice
    while (await introspect(http, app, access))["active"]:  # type: ignore[arg-type]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    userinfo = await http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert userinfo.status_code == 401
    grace_retry = await refresh(http, app, str(tokens["refresh_token"]))  # type: ignore[arg-type]
    assert assert_oauth_error(grace_retry, 400, "invalid_grant")["reason"] == "policy_changed"
    latest = await refresh(http, app, refreshed.json()["refresh_token"])  # type: ignore[arg-type]
    assert assert_oauth_error(latest, 400, "invalid_grant")["reason"] == "policy_changed"
    events = await admin_ctx.store.page_events(
        kinds=("grant_revoked",),
        user_id=None,
        client_id=app.client_id,
        since=None,
        before_id=None,
        limit=10,
    )
    assert [e.detail["reason"] for e in events] == ["policy_changed"]


async def test_a_sign_in_below_the_level_asked_for_gets_no_code_but_the_set_up_page(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    from keyturn.operations.clients import update_client

    app = await make_web_app(admin_ctx)
    # Without a page to show (prompt=none) the client hears why at once ...
    params = authorize_params(app, Pkce.new(), acr_values="urn:keyturn:loa:2", prompt="none")
    answer = await authorize(signed_in, params)
    assert answer["error"] == "unmet_authentication_requirements" and "code" not in answer
    # ... otherwise a user without a second factor is asked to set one up, and comes back.
    params = authorize_params(app, Pkce.new(), acr_values="urn:keyturn:loa:2")
    response = await signed_in.get("/oauth/authorize", params=params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("/account/two-step?return_to=%2Foauth%2Fauthorize%3F")
    assert query_of(query_of(location)["return_to"])["state"] == params["state"]
    await update_client(admin_ctx, app.client_id, {"require_mfa": True}, actor="cli")
    answer = await authorize(signed_in, authorize_params(app, Pkce.new(), prompt="none"))
    assert answer["error"] == "unmet_authentication_requirements"
    response = await signed_in.get("/oauth/authorize", params=authorize_params(app, Pkce.new()))
    assert response.headers["location"].startswith("/account/two-step?")
