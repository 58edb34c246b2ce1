"""The admin API over a real server, on SQLite and PostgreSQL: every resource and error class."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keyturn.oauth.context import Context
from keyturn.oauth.two_step import code_at
from keyturn.operations import two_step, users
from keyturn.operations.clients import ADMIN_READ, ADMIN_WRITE, ClientSpec, create_client
from tests.http.helpers import make_partner, refresh, user_tokens
from tests.support import ServerProcess

PROBLEM = "application/problem+json"


async def admin_token(
    http: httpx.AsyncClient, ctx: Context, scope: str = f"{ADMIN_READ} {ADMIN_WRITE}"
) -> tuple[str, str]:
    """A client_credentials token of a new admin client, and the client's id."""
    spec = ClientSpec(name="Ops", admin=True, scope=scope, grant_types=("client_credentials",))
    client, secret = await create_client(ctx, spec, actor="cli")
    assert secret is not None
    answer = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"], client.client_id


@pytest.fixture
async def api(server: ServerProcess, admin_ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        token, _ = await admin_token(http, admin_ctx)
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


async def test_no_token_a_bad_token_and_a_missing_scope(
    server: ServerProcess, admin_ctx: Context
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        missing = await http.get("/admin/v1/clients")
        problem(missing, 401)
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert "x-request-id" in missing.headers
        forged = await http.get("/admin/v1/clients", headers={"Authorization": "Bearer kta_x"})
        assert 'error="invalid_token"' in forged.headers["www-authenticate"]
        problem(forged, 401)
        read_only, _ = await admin_token(http, admin_ctx, scope=ADMIN_READ)
        headers = {"Authorization": f"Bearer {read_only}"}
        assert (await http.get("/admin/v1/clients", headers=headers)).status_code == 200
        refused = await http.post("/admin/v1/clients", json={"name": "X"}, headers=headers)
        assert ADMIN_WRITE in problem(refused, 403)["detail"]
        # A token of an ordinary client is no admin token, whatever it carries.
        partner = await make_partner(admin_ctx)
        ordinary = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=partner.auth
        )
        headers = {"Authorization": f"Bearer {ordinary.json()['access_token']}"}
        problem(await http.get("/admin/v1/clients", headers=headers), 401)


async def test_only_admin_clients_may_hold_the_admin_scopes(api: httpx.AsyncClient) -> None:
    refused = await api.post("/admin/v1/clients", json={"name": "Sneaky", "scope": ADMIN_WRITE})
    assert "admin" in problem(refused, 422)["detail"]
    created = await api.post("/admin/v1/clients", json={"name": "Plain"})
    client_id = created.json()["client_id"]
    escalate = await api.patch(f"/admin/v1/clients/{client_id}", json={"scope": ADMIN_READ})
    problem(escalate, 422)


async def test_client_lifecycle(api: httpx.AsyncClient, admin_ctx: Context) -> None:
    created = await api.post(
        "/admin/v1/clients",
        json={
            "name": "Budget App",
            "redirect_uris": ["https://budget.example/cb"],
            "scope": "openid offline_access",
            "allowed_origins": ["https://budget.example"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    client_id, secret = body["client_id"], body["client_secret"]
    assert secret and body["grant_types"] == ["authorization_code", "refresh_token"]
    shown = (await api.get(f"/admin/v1/clients/{client_id}")).json()
    assert "client_secret" not in shown and shown["allowed_origins"] == ["https://budget.example"]
    patched = await api.patch(
        f"/admin/v1/clients/{client_id}", json={"name": "Budget", "require_mfa": True}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["require_mfa"]) == ("Budget", True)
    listed = await api.get("/admin/v1/clients", params={"limit": 500})
    assert client_id in {c["client_id"] for c in listed.json()["items"]}
    # Every field is validated, and named when wrong.
    bad = problem(await api.patch(f"/admin/v1/clients/{client_id}", json={"access_ttl": -5}), 422)
    assert bad["errors"][0]["field"] == "body.access_ttl"
    typo = problem(await api.patch(f"/admin/v1/clients/{client_id}", json={"nmae": "x"}), 422)
    assert typo["errors"][0]["field"] == "body.nmae"
    origin = await api.patch(
        f"/admin/v1/clients/{client_id}", json={"allowed_origins": ["https://a.example/path"]}
    )
    problem(origin, 422)
    rotated = await api.post(f"/admin/v1/clients/{client_id}/secret", json={})
    assert rotated.status_code == 200 and rotated.json()["client_secret"] != secret
    disabled = await api.patch(f"/admin/v1/clients/{client_id}", json={"disabled": True})
    assert disabled.json()["disabled"] is True
    enabled = await api.patch(f"/admin/v1/clients/{client_id}", json={"disabled": False})
    assert enabled.json()["disabled"] is False
    assert (await api.delete(f"/admin/v1/clients/{client_id}")).status_code == 204
    problem(await api.get(f"/admin/v1/clients/{client_id}"), 404)
    problem(await api.delete(f"/admin/v1/clients/{client_id}"), 404)
    problem(await api.patch("/admin/v1/clients/nope", json={"name": "x"}), 404)


async def test_deleting_a_client_revokes_its_grants(
    api: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(api, partner)
    assert (await api.delete(f"/admin/v1/clients/{partner.client_id}")).status_code == 204
    after = await refresh(api, partner, tokens["refresh_token"])
    assert after.status_code == 401  # the client itself is gone
    grants = await api.get("/admin/v1/grants", params={"client_id": partner.client_id})
    reasons = {g["revoked_reason"] for g in grants.json()["items"]}
    assert reasons == {"client_deleted"}


async def test_two_step_verification_is_shown_and_an_operator_can_reset_it(
    api: httpx.AsyncClient, admin_ctx: Context
) -> None:
    """For a person who lost both the phone and the recovery codes."""
    user = await users.create_user(
        admin_ctx, "lost-phone@example.com", "a long password", actor="cli"
    )
    setup = two_step.new_setup(admin_ctx, user, b"no session")
    code = code_at(setup.secret, time.time())
    codes = await two_step.confirm_setup(admin_ctx, user, setup, code, b"no session", None)
    assert codes is not None
    shown = (await api.get(f"/admin/v1/users/{user.user_id}")).json()
    assert shown["two_step"] is True and shown["recovery_codes_left"] == 10
    # Only the person can turn it on; an operator can only take it away.
    problem(await api.patch(f"/admin/v1/users/{user.user_id}", json={"two_step": True}), 422)
    problem(await api.patch(f"/admin/v1/users/{user.user_id}", json={"two_step": None}), 422)
    reset = await api.patch(f"/admin/v1/users/{user.user_id}", json={"two_step": False})
    assert reset.status_code == 200
    assert reset.json()["two_step"] is False and reset.json()["recovery_codes_left"] == 0
    events = await api.get(
        "/admin/v1/events", params={"user_id": user.user_id, "kind": "mfa_removed"}
    )
    (removed,) = events.json()["items"]
    assert removed["actor"].startswith("client:") and removed["detail"]["reset"] is True
    # Resetting what is off changes nothing and records nothing.
    again = await api.patch(f"/admin/v1/users/{user.user_id}", json={"two_step": False})
    assert again.status_code == 200
    events = await api.get(
        "/admin/v1/events", params={"user_id": user.user_id, "kind": "mfa_removed"}
    )
    assert len(events.json()["items"]) == 1


async def test_user_lifecycle_and_erasure(api: httpx.AsyncClient, admin_ctx: Context) -> None:
    created = await api.post(
        "/admin/v1/users", json={"email": "Erin@Example.com", "password": "a long password"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "erin@example.com" and user["disabled"] is False
    problem(await api.post("/admin/v1/users", json={"email": "erin@example.com"}), 409)
    problem(await api.post("/admin/v1/users", json={"email": "x@y.z", "password": "short"}), 422)
    found = await api.get("/admin/v1/users", params={"email": "ERIN@example.com"})
    assert [u["user_id"] for u in found.json()["items"]] == [user["user_id"]]
    secure = await api.patch(f"/admin/v1/users/{user['user_id']}", json={"enhanced_security": True})
    assert secure.json()["enhanced_security"] is True
    # A partner's user with live tokens: disabling revokes them with account_disabled.
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(api, partner)
    partner_user = (await api.get("/admin/v1/users", params={"email": tokens["email"]})).json()
    user_id = partner_user["items"][0]["user_id"]
    off = await api.patch(f"/admin/v1/users/{user_id}", json={"disabled": True})
    assert off.json()["disabled"] is True
    refused = await refresh(api, partner, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["reason"] == "account_disabled"
    # Erasure: gone from every lookup, its email free again; events keep only the id.
    assert (await api.delete(f"/admin/v1/users/{user_id}")).status_code == 204
    problem(await api.get(f"/admin/v1/users/{user_id}"), 404)
    assert (await api.get("/admin/v1/users", params={"email": tokens["email"]})).json() == {
        "items": [],
        "next_cursor": None,
    }
    events = (await api.get("/admin/v1/events", params={"user_id": user_id})).json()["items"]
    assert events[0]["kind"] == "user_deleted" and events[0]["actor"].startswith("client:")
    assert tokens["email"] not in str(events)


async def test_grants_pages_filters_and_revocation(
    api: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    for _ in range(3):  # each: a client token for the signup, then the user's grant
        await user_tokens(api, partner)
    first = await api.get("/admin/v1/grants", params={"client_id": partner.client_id, "limit": 4})
    page = first.json()
    assert len(page["items"]) == 4 and page["next_cursor"]
    second = await api.get(
        "/admin/v1/grants",
        params={"client_id": partner.client_id, "limit": 4, "cursor": page["next_cursor"]},
    )
    rest = second.json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    everything = page["items"] + rest["items"]
    assert [g["created_at"] for g in everything] == sorted(g["created_at"] for g in everything)
    ids = [g["grant_id"] for g in everything if g["user_id"] is not None]
    assert len(set(ids)) == 3
    grant = (await api.get(f"/admin/v1/grants/{ids[0]}")).json()
    assert grant["auth_level"] == 1 and grant["revoked_at"] is None
    revoked = await api.delete(f"/admin/v1/grants/{ids[0]}", params={"reason": "ticket 7"})
    assert revoked.status_code == 204
    assert (await api.get(f"/admin/v1/grants/{ids[0]}")).json()["revoked_reason"] == (
        "revoked_by_admin"
    )
    live = await api.get(
        "/admin/v1/grants", params={"client_id": partner.client_id, "active": "true"}
    )
    live_users = {g["grant_id"] for g in live.json()["items"] if g["user_id"] is not None}
    assert live_users == set(ids[1:])
    ended = await api.get(
        "/admin/v1/grants", params={"client_id": partner.client_id, "active": "false"}
    )
    assert [g["grant_id"] for g in ended.json()["items"]] == [ids[0]]
    problem(await api.get("/admin/v1/grants/" + "0" * 32), 404)
    problem(await api.get("/admin/v1/grants/not-hex"), 404)
    problem(await api.get("/admin/v1/grants", params={"cursor": "garbage!"}), 422)
    spaced = " ".join(ids[0][i : i + 2] for i in range(0, 32, 2))  # a real id, spaced out
    problem(await api.get("/admin/v1/grants/" + spaced), 404)
    # A cursor of the right shape whose grant id is not one: refused like any other.
    for bad_id in ["00", "zz" * 16, "0" * 34, " 00" * 16]:
        forged = base64.urlsafe_b64encode(json.dumps([1.0, bad_id]).encode()).decode()
        problem(await api.get("/admin/v1/grants", params={"cursor": forged}), 422)
    problem(await api.get("/admin/v1/grants", params={"limit": 0}), 422)
    problem(await api.get("/admin/v1/grants", params={"limit": 501}), 422)


async def test_events_newest_first_with_filters(api: httpx.AsyncClient) -> None:
    made = await api.post("/admin/v1/clients", json={"name": "Evented"})
    client_id = made.json()["client_id"]
    await api.patch(f"/admin/v1/clients/{client_id}", json={"name": "Evented 2"})
    events = await api.get("/admin/v1/events", params={"client_id": client_id})
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds == ["client_updated", "client_created"]
    only = await api.get(
        "/admin/v1/events", params={"client_id": client_id, "kind": "client_created"}
    )
    assert [e["kind"] for e in only.json()["items"]] == ["client_created"]
    later = await api.get(
        "/admin/v1/events", params={"client_id": client_id, "since": "2999-01-01T00:00:00Z"}
    )
    assert later.json()["items"] == []
    problem(await api.get("/admin/v1/events", params={"since": "yesterday"}), 422)


async def test_keys_list_and_rotate(api: httpx.AsyncClient) -> None:
    before = (await api.get("/admin/v1/keys")).json()
    rotated = await api.post("/admin/v1/keys/rotate")
    assert rotated.status_code == 201
    kids = rotated.json()["kids"]
    after = (await api.get("/admin/v1/keys")).json()
    assert {k["kid"] for k in after if k["current"]} == set(kids)
    assert len(after) == len(before) + 4
    event = (await api.get("/admin/v1/events", params={"kind": "keys_rotated"})).json()
    assert event["items"][0]["detail"]["kids"] == kids


async def test_unknown_admin_paths_and_methods_are_problems(api: httpx.AsyncClient) -> None:
    problem(await api.get("/admin/v1/nothing-here"), 404)
    problem(await api.put("/admin/v1/clients"), 405)
    malformed = await api.post(
        "/admin/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    problem(malformed, 422)


async def test_webhooks_over_the_admin_api(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/admin/v1/webhooks", json={"url": "https://hooks.example/in", "kinds": ["token_scan"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["kinds"] == ["token_scan"]
    webhook_id = body["webhook_id"]
    shown = (await api.get(f"/admin/v1/webhooks/{webhook_id}")).json()
    assert "secret" not in shown and shown["url"] == "https://hooks.example/in"
    assert webhook_id in {w["webhook_id"] for w in (await api.get("/admin/v1/webhooks")).json()}
    deliveries = await api.get(f"/admin/v1/webhooks/{webhook_id}/deliveries")
    assert deliveries.json() == {"items": [], "next_cursor": None}
    problem(await api.post("/admin/v1/webhooks", json={"url": "not a url"}), 422)
    problem(
        await api.post("/admin/v1/webhooks", json={"url": "https://a.example", "kinds": ["x"]}),
        422,
    )
    assert (await api.delete(f"/admin/v1/webhooks/{webhook_id}")).status_code == 204
    problem(await api.get(f"/admin/v1/webhooks/{webhook_id}"), 404)
    problem(await api.get(f"/admin/v1/webhooks/{webhook_id}/deliveries"), 404)
