"""A real browser (Debian's Chromium driven by Playwright) against a real server."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from testkit.chromium import CHROMIUM, FLAGS  # shared with tools/screenshots.py
from tests.support import IN_CI


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        await browser.close()


class _Callback(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>App</title><h1>Back at the app</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def callback_url() -> Iterator[str]:
    """The relying party's redirect URI: a real page on loopback, nothing leaves the machine."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/callback"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
async def page(chromium: Browser) -> AsyncIterator[Page]:
    context = await chromium.new_context()
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
async def http(server: object) -> AsyncIterator[object]:
    import httpx

    from tests.support import ServerProcess

    assert isinstance(server, ServerProcess)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client
