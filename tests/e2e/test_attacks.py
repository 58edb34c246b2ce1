"""Attacks that need a real browser's URL parser to reproduce, in Chromium.

`evil.example` resolves (inside this browser only) to a loopback server that
records what reaches it, so a stolen code or an open redirect shows up as a
request there, and nothing leaves the machine.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlencode

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from keyturn.oauth.context import Context
from testkit.chromium import CHROMIUM, FLAGS
from tests.e2e.test_pages import PASSWORD, sign_in
from tests.http.oidc_helpers import Pkce, authorize_params, make_user, make_web_app
from tests.support import ServerProcess


@dataclass
class Attacker:
    port: int
    paths: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    seen = Attacker(port=0)

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.paths.append(self.path)
            body = b"<!doctype html><title>Evil</title><h1>Attacker page</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    seen.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield seen
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
async def chromium_with_evil_dns(attacker: Attacker) -> AsyncIterator[Browser]:
    rules = f"--host-resolver-rules=MAP evil.example 127.0.0.1:{attacker.port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, rules])
        yield browser
        await browser.close()


@pytest.fixture
async def evil_page(chromium_with_evil_dns: Browser) -> AsyncIterator[Page]:
    context = await chromium_with_evil_dns.new_context()
    page = await context.new_page()
    yield page
    await context.close()


async def test_the_browser_really_reaches_the_attacker(evil_page: Page, attacker: Attacker) -> None:
    """The set-up itself: without this the tests below would prove nothing."""
    await evil_page.goto("http://evil.example/probe")
    await expect(evil_page.get_by_role("heading", name="Attacker page")).to_be_visible()
    assert "/probe" in attacker.paths


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example\\@127.0.0.1:8080/callback",
        "http://evil.example%5C@127.0.0.1:8080/callback",
        "http://127.0.0.1:8080\\@evil.example/callback",
        "http://evil.example\t\\@127.0.0.1:8080/callback",
    ],
)
async def test_a_loopback_lookalike_never_carries_a_code_to_another_host(
    evil_page: Page,
    server: ServerProcess,
    admin_ctx: Context,
    attacker: Attacker,
    redirect_uri: str,
) -> None:
    app = await make_web_app(admin_ctx, public=True, redirect_uris=("http://127.0.0.1/callback",))
    await sign_in(evil_page, server, await make_user(admin_ctx, PASSWORD))
    await expect(evil_page.get_by_role("heading", name="Your account")).to_be_visible()
    params = authorize_params(app, Pkce.new(), redirect_uri=redirect_uri)
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    before = len(attacker.paths)
    await evil_page.goto(f"{server.base_url}/oauth/authorize?{query}")
    await expect(
        evil_page.get_by_role("heading", name="This request cannot be completed")
    ).to_be_visible()
    assert evil_page.url.startswith(server.base_url)
    assert attacker.paths[before:] == []


@pytest.mark.parametrize("return_to", ["/\t/evil.example/", "/\\evil.example/", "/\n/evil.example"])
async def test_sign_in_never_returns_the_browser_to_another_site(
    evil_page: Page,
    server: ServerProcess,
    admin_ctx: Context,
    attacker: Attacker,
    return_to: str,
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    before = len(attacker.paths)
    await evil_page.goto(f"{server.base_url}/login?{urlencode({'return_to': return_to})}")
    await evil_page.get_by_label("Email").fill(email)
    await evil_page.get_by_label("Password").fill(PASSWORD)
    await evil_page.get_by_role("button", name="Sign in").click()
    await expect(evil_page.get_by_role("heading", name="Your account")).to_be_visible()
    assert evil_page.url == f"{server.base_url}/account"
    assert attacker.paths[before:] == []
