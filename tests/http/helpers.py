"""Helpers for HTTP tests: a partner client and the registration-code flow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from keyturn import admin
from keyturn.oauth.context import Context


@dataclass(frozen=True)
class Partner:
    client_id: str
    client_secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.client_secret)


async def make_partner(ctx: Context, **overrides: Any) -> Partner:
    spec = admin.ClientSpec(
        name="Partner",
        scope=overrides.pop("scope", "offline_access transfers balances"),
        grant_types=("client_credentials", "registration_code", "refresh_token"),
        **overrides,
    )
    client, secret = await admin.create_client(ctx, spec)
    assert secret is not None
    return Partner(client.client_id, secret)


async def client_token(http: httpx.AsyncClient, partner: Partner) -> str:
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=partner.auth
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def sign_up(
    http: httpx.AsyncClient, partner: Partner, email: str | None = None, code: str = "code-1234567"
) -> str:
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/v1/user/signup/registration_code",
        json={"email": email, "registrationCode": code},
        headers={"Authorization": f"Bearer {await client_token(http, partner)}"},
    )
    assert response.status_code == 200, response.text
    return email


async def user_tokens(
    http: httpx.AsyncClient, partner: Partner, email: str | None = None
) -> dict[str, Any]:
    email = await sign_up(http, partner, email)
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "registration_code",
            "email": email,
            "registration_code": "code-1234567",
        },
        auth=partner.auth,
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    tokens["email"] = email
    return tokens


async def refresh(
    http: httpx.AsyncClient, partner: Partner, token: str, **extra: str
) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, **extra},
        auth=partner.auth,
    )


async def introspect(http: httpx.AsyncClient, partner: Partner, token: str) -> dict[str, Any]:
    response = await http.post("/oauth/introspect", data={"token": token}, auth=partner.auth)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str)
    return body
