"""Walk the authorization code flow as a browser would, with httpx and a cookie jar.

Shared by the tests (tests/http/oidc_helpers.py re-exports it), bench/seed.py and
tools/screenshots.py.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from keyturn import admin
from keyturn.oauth.context import Context
from keyturn.oauth.pkce import s256

REDIRECT = "https://app.example/callback"


@dataclass(frozen=True)
class WebApp:
    client_id: str
    client_secret: str | None

    @property
    def auth(self) -> tuple[str, str] | None:
        return None if self.client_secret is None else (self.client_id, self.client_secret)


async def make_web_app(ctx: Context, **overrides: Any) -> WebApp:
    spec = admin.ClientSpec(
        name=overrides.pop("name", "Budget App"),
        scope=overrides.pop("scope", "openid offline_access email transfers"),
        redirect_uris=overrides.pop("redirect_uris", (REDIRECT,)),
        **overrides,
    )
    client, secret = await admin.create_client(ctx, spec)
    return WebApp(client.client_id, secret)


async def make_user(ctx: Context, password: str = "correct horse battery") -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    await admin.create_user(ctx, email, password)
    return email


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1).replace("&amp;", "&").replace("&#34;", '"').replace("&#39;", "'")


async def sign_in(browser: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await browser.get("/login")
    return await browser.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf": hidden(page.text, "csrf"),
            "return_to": "/account",
        },
    )


async def answer_consent(
    browser: httpx.AsyncClient, page: httpx.Response, decision: str = "allow"
) -> httpx.Response:
    """Submit the consent form that `page` shows (its CSRF token and carried request)."""
    return await browser.post(
        "/oauth/authorize",
        data={
            "csrf": hidden(page.text, "csrf"),
            "request": hidden(page.text, "request"),
            "decision": decision,
        },
    )


@dataclass
class Pkce:
    verifier: str

    @classmethod
    def new(cls) -> Pkce:
        return cls(secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


def authorize_params(app: WebApp, pkce: Pkce | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access email",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorize(
    browser: httpx.AsyncClient, params: dict[str, str], *, decision: str = "allow"
) -> dict[str, str]:
    """GET /oauth/authorize as a signed-in browser, answer consent; return the redirect query."""
    response = await browser.get("/oauth/authorize", params=params)
    if response.status_code == 200 and "Allow" in response.text:
        response = await answer_consent(browser, response, decision)
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    location = response.headers["location"]
    assert location.startswith(params.get("redirect_uri", REDIRECT)), location
    return query_of(location)


async def exchange(
    http: httpx.AsyncClient, app: WebApp, code: str, pkce: Pkce | None, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if pkce is not None:
        data["code_verifier"] = pkce.verifier
    if app.client_secret is None:
        data["client_id"] = app.client_id
    data.update(extra)
    return await http.post("/oauth/token", data=data, auth=app.auth or httpx.USE_CLIENT_DEFAULT)
