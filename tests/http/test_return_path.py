"""Where the sign-in page sends the browser afterwards: this site only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from keyturn.oauth.context import Context
from tests.http.oidc_helpers import hidden, make_user
from tests.support import ServerProcess

OFF_SITE = [
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\x0b/evil.example/",
    "/\r\nSet-Cookie: x=1",
    "\t//evil.example/",
    " /account",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\\/evil.example/",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\u3000/evil.example",
    "/\uff0f/evil.example",
    "/" + "a" * 5000,
]


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


async def sign_in_returning_to(
    browser: httpx.AsyncClient, email: str, return_to: str
) -> httpx.Response:
    page = await browser.get("/login")
    return await browser.post(
        "/login",
        data={
            "email": email,
            "password": "correct horse battery",
            "csrf": hidden(page.text, "csrf"),
            "return_to": return_to,
        },
    )


@pytest.mark.parametrize("return_to", OFF_SITE)
async def test_off_site_return_path_falls_back_to_the_account_page(
    browser: httpx.AsyncClient, admin_ctx: Context, return_to: str
) -> None:
    response = await sign_in_returning_to(browser, await make_user(admin_ctx), return_to)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account"


@pytest.mark.parametrize("return_to", OFF_SITE[:6])
async def test_off_site_return_path_is_not_carried_by_the_form(
    browser: httpx.AsyncClient, return_to: str
) -> None:
    page = await browser.get("/login", params={"return_to": return_to})
    assert page.status_code == 200
    assert hidden(page.text, "return_to") == "/account"


@pytest.mark.parametrize(
    "return_to", ["/account", "/oauth/authorize?client_id=abc&state=x%2Fy", "/account?done=1"]
)
async def test_same_site_return_path_is_kept(
    browser: httpx.AsyncClient, admin_ctx: Context, return_to: str
) -> None:
    response = await sign_in_returning_to(browser, await make_user(admin_ctx), return_to)
    assert response.headers["location"] == return_to


async def test_a_nul_byte_refuses_the_whole_sign_in_form(
    browser: httpx.AsyncClient, admin_ctx: Context
) -> None:
    response = await sign_in_returning_to(browser, await make_user(admin_ctx), "/\x00/evil.example")
    assert response.status_code == 400
    assert "location" not in response.headers
