"""POST /oauth/token against a real server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx

from keyturn import admin
from keyturn.oauth.context import Context
from tests.http.helpers import (
    assert_oauth_error,
    client_token,
    introspect,
    make_partner,
    refresh,
    sign_up,
    user_tokens,
)
from tests.support import away_from_minute_edge


async def test_registration_code_flow_issues_both_tokens(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    assert tokens["access_token"].startswith("kta_")
    assert tokens["refresh_token"].startswith("ktr_")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 43200
    assert tokens["scope"] == "offline_access transfers balances"
    assert tokens["created_at"].endswith("Z")


async def test_success_is_not_cached(http: httpx.AsyncClient, admin_ctx: Context) -> None:
    partner = await make_partner(admin_ctx)
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=partner.auth
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "refresh_token" not in response.json()


async def test_refresh_kills_the_previous_access_token(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    first = await user_tokens(http, partner)
    assert (await introspect(http, partner, first["access_token"]))["active"] is True
    second = (await refresh(http, partner, first["refresh_token"])).json()
    assert (await introspect(http, partner, first["access_token"])) == {"active": False}
    answer = await introspect(http, partner, second["access_token"])
    assert answer["active"] is True
    assert answer["client_id"] == partner.client_id
    assert answer["scope"] == "offline_access transfers balances"


async def test_replay_inside_grace_is_identical_and_reuse_revokes(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    first = await user_tokens(http, partner)
    second = await refresh(http, partner, first["refresh_token"])
    again = await refresh(http, partner, first["refresh_token"])
    assert again.status_code == 200 and again.json() == second.json()
    third = await refresh(http, partner, second.json()["refresh_token"])
    assert third.status_code == 200
    reused = await refresh(http, partner, first["refresh_token"])
    assert assert_oauth_error(reused, 400, "invalid_grant")["reason"] == "reuse_detected"
    dead = await refresh(http, partner, third.json()["refresh_token"])
    assert assert_oauth_error(dead, 400, "invalid_grant")["reason"] == "reuse_detected"
    events = await admin_ctx.store.list_events(limit=1000)
    assert any(e.kind == "refresh_token_reuse" and e.client_id == partner.client_id for e in events)


async def test_client_secret_post_and_basic_both_work(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": partner.client_id,
            "client_secret": partner.client_secret,
        },
    )
    assert response.status_code == 200, response.text


async def test_basic_credentials_are_form_urlencoded(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    raw = f"{partner.client_id}:{partner.client_secret}".replace("-", "%2D")
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert response.status_code == 200, response.text


async def test_public_client_refreshes_with_client_id_alone(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    client, secret = await admin.create_client(
        admin_ctx, admin.ClientSpec(name="CLI", public=True, scope="offline_access")
    )
    assert secret is None
    partner = await make_partner(admin_ctx)
    # Issue a grant for the public client directly through the store.
    from keyturn.oauth.grants.base import TokenRequest, new_grant
    from keyturn.oauth.issue import token_response

    grant = await admin_ctx.store.create_grant(
        new_grant(
            TokenRequest(client, {}, None),
            admin_ctx,
            user_id=None,
            scope="offline_access",
            with_refresh=True,
            auth_time=None,
        )
    )
    tokens = token_response(admin_ctx.keys.ring, grant, client, admin_ctx.issuer)
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client.client_id,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != tokens["refresh_token"]
    # A confidential client may not leave out its secret.
    bare = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": partner.client_id}
    )
    assert_oauth_error(bare, 401, "invalid_client")


async def test_wrong_secret_is_invalid_client_with_basic_challenge(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(partner.client_id, "nope")
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    form = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": partner.client_id,
            "client_secret": "nope",
        },
    )
    assert_oauth_error(form, 401, "invalid_client")
    assert "www-authenticate" not in form.headers


async def test_two_authentication_methods_are_refused(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": partner.client_secret},
        auth=partner.auth,
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_request_errors(http: httpx.AsyncClient, admin_ctx: Context) -> None:
    partner = await make_partner(admin_ctx)
    missing = await http.post("/oauth/token", data={}, auth=partner.auth)
    assert_oauth_error(missing, 400, "invalid_request")
    unknown = await http.post("/oauth/token", data={"grant_type": "password"}, auth=partner.auth)
    assert_oauth_error(unknown, 400, "unsupported_grant_type")
    repeated = await http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=partner.auth,
    )
    assert_oauth_error(repeated, 400, "invalid_request")
    as_json = await http.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=partner.auth
    )
    assert_oauth_error(as_json, 400, "invalid_request")
    no_token = await http.post(
        "/oauth/token", data={"grant_type": "refresh_token"}, auth=partner.auth
    )
    assert_oauth_error(no_token, 400, "invalid_request")
    wide = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=partner.auth,
    )
    assert_oauth_error(wide, 400, "invalid_scope")
    nobody = await http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(nobody, 401, "invalid_client")


async def test_grant_type_not_allowed_for_client_is_unauthorized_client(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    client, secret = await admin.create_client(admin_ctx, admin.ClientSpec(name="Web"))
    assert secret is not None
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, secret),
    )
    assert_oauth_error(response, 400, "unauthorized_client")


async def test_refresh_token_of_another_client_is_invalid_grant(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    owner, other = await make_partner(admin_ctx), await make_partner(admin_ctx)
    tokens = await user_tokens(http, owner)
    response = await refresh(http, other, tokens["refresh_token"])
    assert assert_oauth_error(response, 400, "invalid_grant")["reason"] == "unknown"
    assert (await refresh(http, owner, tokens["refresh_token"])).status_code == 200


async def test_scope_narrowing_on_refresh(http: httpx.AsyncClient, admin_ctx: Context) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    narrow = await refresh(http, partner, tokens["refresh_token"], scope="balances")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "balances"
    wide = await refresh(http, partner, narrow.json()["refresh_token"], scope="balances admin")
    assert_oauth_error(wide, 400, "invalid_scope")


async def test_revocation_reasons_reach_the_client(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    by_user = await user_tokens(http, partner)
    response = await http.post(
        "/oauth/revoke", data={"token": by_user["refresh_token"]}, auth=partner.auth
    )
    assert response.status_code == 200
    assert (await introspect(http, partner, by_user["access_token"])) == {"active": False}
    reason = assert_oauth_error(
        await refresh(http, partner, by_user["refresh_token"]), 400, "invalid_grant"
    )["reason"]
    assert reason == "revoked_by_client"

    by_admin = await user_tokens(http, partner)
    await admin.revoke_grants(
        admin_ctx,
        grant_id=None,
        email=by_admin["email"],
        client_id=None,
        reason="support ticket 42",
    )
    body = assert_oauth_error(
        await refresh(http, partner, by_admin["refresh_token"]), 400, "invalid_grant"
    )
    assert body["reason"] == "revoked_by_admin"

    enhanced = await user_tokens(http, partner)
    await admin.set_enhanced_security(admin_ctx, enhanced["email"], True)
    body = assert_oauth_error(
        await refresh(http, partner, enhanced["refresh_token"]), 400, "invalid_grant"
    )
    assert body["reason"] == "enhanced_security"


async def test_revoking_an_access_token_keeps_the_refresh_token(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    response = await http.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        auth=partner.auth,
    )
    assert response.status_code == 200
    assert (await introspect(http, partner, tokens["access_token"])) == {"active": False}
    assert (await refresh(http, partner, tokens["refresh_token"])).status_code == 200


async def test_revoke_is_quiet_about_unknown_and_foreign_tokens(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    owner, other = await make_partner(admin_ctx), await make_partner(admin_ctx)
    tokens = await user_tokens(http, owner)
    for token in ("nonsense", tokens["refresh_token"]):
        response = await http.post("/oauth/revoke", data={"token": token}, auth=other.auth)
        assert response.status_code == 200
    assert (await refresh(http, owner, tokens["refresh_token"])).status_code == 200
    missing = await http.post("/oauth/revoke", data={}, auth=other.auth)
    assert_oauth_error(missing, 400, "invalid_request")
    unauthenticated = await http.post("/oauth/revoke", data={"token": "x"}, auth=("x", "y"))
    assert_oauth_error(unauthenticated, 401, "invalid_client")


async def test_introspection_of_a_refresh_token(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    answer = await introspect(http, partner, tokens["refresh_token"])
    assert answer["active"] is True
    assert answer["token_type"] == "refresh_token"
    assert set(answer) >= {"scope", "client_id", "sub", "exp", "iat", "iss"}
    assert await introspect(http, partner, "ktr_garbage") == {"active": False}


async def test_rotated_secret_takes_effect_once_the_change_is_heard(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)  # caches the client in the server
    token = tokens["refresh_token"]
    new_secret = await admin.rotate_client_secret(admin_ctx, partner.client_id, revoke_tokens=False)
    # The rotation was made by another store (as by another instance or the CLI): the
    # server drops its cached client when PostgreSQL's notice arrives, milliseconds
    # later, and from then on the old secret is refused.
    deadline = time.monotonic() + 2
    old = await refresh(http, partner, token)
    while old.status_code == 200 and time.monotonic() < deadline:
        token = old.json()["refresh_token"]
        await asyncio.sleep(0.01)
        old = await refresh(http, partner, token)
    assert_oauth_error(old, 401, "invalid_client")
    fresh = await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(partner.client_id, new_secret),
    )
    assert fresh.status_code == 200, fresh.text


async def test_disabled_client_gets_client_disabled(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    await admin.disable_client(admin_ctx, partner.client_id)
    body = assert_oauth_error(
        await refresh(http, partner, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert body["reason"] == "client_disabled"


async def test_claimed_account_stops_the_registration_code(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    await admin.claim_user(admin_ctx, tokens["email"], "a long new password")
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "registration_code",
            "email": tokens["email"],
            "registration_code": "code-1234567",
        },
        auth=partner.auth,
    )
    body = assert_oauth_error(response, 400, "invalid_grant")
    assert body["error_description"] == "Invalid user credentials."
    assert body["reason"] == "account_claimed"
    # Tokens issued before the claim keep working.
    assert (await refresh(http, partner, tokens["refresh_token"])).status_code == 200


async def test_wrong_registration_code_is_invalid_grant(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    email = await sign_up(http, partner)
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "registration_code", "email": email, "registration_code": "wrong"},
        auth=partner.auth,
    )
    assert assert_oauth_error(response, 400, "invalid_grant")["error_description"] == (
        "Invalid user credentials."
    )
    other = await make_partner(admin_ctx)
    foreign = await http.post(
        "/oauth/token",
        data={
            "grant_type": "registration_code",
            "email": email,
            "registration_code": "code-1234567",
        },
        auth=other.auth,
    )
    assert_oauth_error(foreign, 400, "invalid_grant")


async def test_too_many_refreshes_from_one_address_get_429(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx, rotation=False)
    tokens = await user_tokens(http, partner)
    away_from_minute_edge()
    statuses = []
    for _ in range(310):
        response = await refresh(http, partner, tokens["refresh_token"])
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"] == "slow_down"
            break
    assert statuses[:60] == [200] * 60
    assert statuses[-1] == 429


async def test_signup_requires_a_partner_token(http: httpx.AsyncClient, admin_ctx: Context) -> None:
    url = "/v1/user/signup/registration_code"
    body = {"email": "someone@example.com", "registrationCode": "code-1234567"}
    anonymous = await http.post(url, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    bad = await http.post(url, json=body, headers={"Authorization": "Bearer kta_nope"})
    assert bad.status_code == 401
    web, secret = await admin.create_client(
        admin_ctx, admin.ClientSpec(name="Service", grant_types=("client_credentials",))
    )
    assert secret is not None
    token = (
        await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(web.client_id, secret)
        )
    ).json()["access_token"]
    forbidden = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403
    partner = await make_partner(admin_ctx)
    email = await sign_up(http, partner)
    duplicate = await http.post(
        url,
        json={"email": email, "registrationCode": "code-1234567"},
        headers={"Authorization": f"Bearer {await client_token(http, partner)}"},
    )
    assert duplicate.status_code == 409
    malformed = await http.post(
        url,
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {await client_token(http, partner)}",
            "Content-Type": "application/json",
        },
    )
    assert malformed.status_code == 400


async def test_discovery_lists_what_is_implemented(http: httpx.AsyncClient) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = (await http.get(path)).json()
        assert metadata["issuer"] == str(http.base_url).rstrip("/")
        assert metadata["token_endpoint"].endswith("/oauth/token")
        assert "refresh_token" in metadata["grant_types_supported"]
        for endpoint in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
            probe = await http.post(metadata[endpoint].removeprefix(str(http.base_url).rstrip("/")))
            assert probe.status_code != 404


async def test_unknown_path_and_wrong_method(http: httpx.AsyncClient) -> None:
    assert (await http.get("/nope")).status_code == 404
    response = await http.get("/oauth/token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
