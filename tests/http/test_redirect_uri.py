"""Redirect URIs at /oauth/authorize: the exact registered string, or a loopback port.

Every refused URI must be shown as a 400 page and never redirected to, signed in
or not, whatever else is wrong with the request: an attacker who can bounce the
browser to a URI of their choosing steals the code, or has an open redirect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from keyturn import admin
from keyturn.oauth.context import Context
from tests.http.oidc_helpers import (
    Pkce,
    authorize,
    authorize_params,
    exchange,
    make_user,
    make_web_app,
    sign_in,
)
from tests.support import ServerProcess

LOOPBACK = "http://127.0.0.1/callback"

# Each of these would take the browser somewhere else than 127.0.0.1/callback, or is
# ambiguous between parsers. A browser (WHATWG URL) turns "\" into "/", so the first
# one goes to evil.example while Python's urlsplit reads 127.0.0.1.
STOLEN_CODE_URIS = [
    "http://evil.example\\@127.0.0.1:8080/callback",
    "http://evil.example%5C@127.0.0.1:8080/callback",
    "http://evil.example\\\\@127.0.0.1:8080/callback",
    "http://user@127.0.0.1:8080/callback",
    "http://user:pass@127.0.0.1:8080/callback",
    "http://:@127.0.0.1:8080/callback",
    "http://127.0.0.1:8080@evil.example/callback",
    "http://127.0.0.1:8080\\@evil.example/callback",
    "http://127.0.0.1.evil.example:8080/callback",
    "http://127.0.0.1:8080.evil.example/callback",
    "http://127.0.0.1:8080/callback#@evil.example",
    "http://127.0.0.1:8080/callback?@evil.example",
    "http://127.0.0.1:8080/callback/../../evil",
    "http://127.0.0.1:8080/%2e%2e/callback",
    "http://127.0.0.1:8080/callback\t",
    "http://127.0.0.1:8080/call\nback",
    " http://127.0.0.1:8080/callback",
    "http://127.0.0.1:8080 /callback",
    "http://127.0.0.1:8080/callback\x00",
    "HTTP://127.0.0.1:8080/callback",
    "https://127.0.0.1:8080/callback",
    "http://0x7f.0.0.1:8080/callback",
    "http://127.1:8080/callback",
    "http://localhost:8080/callback",
    "http://127.0.0.1:08080/callback",
    "http://127.0.0.1:+8080/callback",
    "http://127.0.0.1:8080:9090/callback",
    "//127.0.0.1:8080/callback",
    "http:/127.0.0.1:8080/callback",
    "http:\\\\evil.example\\@127.0.0.1:8080/callback",
    "http://127.0.0.1:8080/CALLBACK",
    "http://127.0.0.1:8080/callback/",
    "http://[::1]:8080/callback",  # another loopback host than the one registered
]

MALFORMED_URIS = [
    "http://127.0.0.1:abc/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:65536/callback",
    "http://127.0.0.1:0/callback",
    "http://127.0.0.1:/callback",
    "http://127.0.0.1:-1/callback",
    "http://[::1/callback",
    "http://[::1:8080/callback",
    "http://[/callback",
    "http://%/callback",
    "http://\udcff/callback",
    "http://127.0.0.1:8080/callback" + "a" * 5000,
]


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def signed_in(browser: httpx.AsyncClient, admin_ctx: Context) -> httpx.AsyncClient:
    response = await sign_in(browser, await make_user(admin_ctx), "correct horse battery")
    assert response.status_code == 303, response.text
    return browser


def assert_refused_page(response: httpx.Response) -> None:
    assert response.status_code == 400, (response.status_code, response.headers)
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "cannot be completed" in response.text


def raw_query(params: dict[str, str]) -> str:
    """Encode like httpx but without refusing what a hostile browser link may hold."""
    from urllib.parse import quote

    return "&".join(
        f"{quote(k, safe='')}={quote(v, safe='', errors='surrogatepass')}"
        for k, v in params.items()
    )


@pytest.mark.parametrize("uri", STOLEN_CODE_URIS + MALFORMED_URIS)
async def test_loopback_lookalikes_are_refused_without_redirect(
    signed_in: httpx.AsyncClient, admin_ctx: Context, uri: str
) -> None:
    app = await make_web_app(admin_ctx, public=True, redirect_uris=(LOOPBACK,))
    params = authorize_params(app, Pkce.new(), redirect_uri=uri)
    response = await signed_in.get("/oauth/authorize?" + raw_query(params))
    assert_refused_page(response)


@pytest.mark.parametrize("uri", STOLEN_CODE_URIS[:8] + MALFORMED_URIS[:4])
async def test_refused_redirect_uri_is_never_an_error_redirect(
    browser: httpx.AsyncClient, admin_ctx: Context, uri: str
) -> None:
    """Signed out and with a bad response_type: still a page, not a bounce to the URI."""
    app = await make_web_app(admin_ctx, public=True, redirect_uris=(LOOPBACK,))
    params = authorize_params(app, Pkce.new(), redirect_uri=uri, response_type="token")
    assert_refused_page(await browser.get("/oauth/authorize?" + raw_query(params)))
    params = authorize_params(app, Pkce.new(), redirect_uri=uri, prompt="none")
    assert_refused_page(await browser.get("/oauth/authorize?" + raw_query(params)))


async def test_ipv6_loopback_accepts_any_port(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx, public=True, redirect_uris=("http://[::1]/callback",))
    pkce = Pkce.new()
    redirect = "http://[::1]:61000/callback"
    answer = await authorize(signed_in, authorize_params(app, pkce, redirect_uri=redirect))
    response = await exchange(http, app, answer["code"], pkce, redirect_uri=redirect)
    assert response.status_code == 200, response.text


async def test_code_must_be_redeemed_with_the_port_it_was_sent_to(
    http: httpx.AsyncClient, signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx, public=True, redirect_uris=(LOOPBACK,))
    pkce = Pkce.new()
    redirect = "http://127.0.0.1:53127/callback"
    answer = await authorize(signed_in, authorize_params(app, pkce, redirect_uri=redirect))
    other_port = await exchange(
        http, app, answer["code"], pkce, redirect_uri="http://127.0.0.1:53128/callback"
    )
    assert other_port.status_code == 400
    assert other_port.json()["error"] == "invalid_grant"


async def test_confidential_client_gets_no_any_port_rule(
    signed_in: httpx.AsyncClient, admin_ctx: Context
) -> None:
    """A confidential client is a web server with a fixed address: exact match only."""
    app = await make_web_app(admin_ctx, redirect_uris=(LOOPBACK, "http://127.0.0.1:9000/cb"))
    any_port = authorize_params(app, Pkce.new(), redirect_uri="http://127.0.0.1:53127/callback")
    assert_refused_page(await signed_in.get("/oauth/authorize", params=any_port))
    registered = authorize_params(app, Pkce.new(), redirect_uri="http://127.0.0.1:9000/cb")
    answer = await authorize(signed_in, registered)
    assert answer["code"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example\\@127.0.0.1/callback",
        "http://user@app.example/callback",
        "https://app.example/callback#fragment",
        "https://app.example/call back",
        "https://app.example/callback\t",
        "javascript:alert(1)//",
        "data:text/html,hi",
        "file:///etc/passwd",
        "https://App.Example/callback",
        "https://app.example:443/callback",
        "https://a%2eb.example/callback",
        "/relative/callback",
        "https:///callback",
        "https://app.example/caf\u00e9",
    ],
)
async def test_registration_refuses_ambiguous_redirect_uris(admin_ctx: Context, uri: str) -> None:
    with pytest.raises(admin.AdminError):
        await admin.create_client(
            admin_ctx, admin.ClientSpec(name="Bad", public=True, redirect_uris=(uri,))
        )


@pytest.mark.parametrize(
    "uri",
    ["https://app.example/callback?x=1", "com.example.app:/oauth2redirect", LOOPBACK],
)
async def test_registration_accepts_plain_redirect_uris(admin_ctx: Context, uri: str) -> None:
    client, _ = await admin.create_client(
        admin_ctx, admin.ClientSpec(name="Good", public=True, redirect_uris=(uri,))
    )
    assert client.redirect_uris == (uri,)
