"""Render the sign-in, consent, account and claim pages to PNGs for the docs.

Usage: PYTHONPATH=. .venv/bin/python tools/screenshots.py [OUT_DIR]  (default docs/screenshots)
Starts its own keyturn on loopback with a throw-away SQLite database.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from playwright.async_api import async_playwright

from keyturn import admin
from keyturn.config import Secret, Settings
from keyturn.runtime import open_context
from keyturn.store import open_store
from testkit.chromium import CHROMIUM, FLAGS
from testkit.oidc import Pkce, WebApp, authorize_params, exchange
from testkit.services import SECRET_KEY, running_server

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1000, "height": 760}


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{tmp}/keyturn.db"
        with running_server(database, Path(tmp)) as server:
            store = await open_store(database)
            ctx = await open_context(
                Settings(data_dir=tmp, secret_key=Secret(SECRET_KEY)), store=store
            )
            client, secret = await admin.create_client(
                ctx,
                admin.ClientSpec(
                    name="Budget App",
                    scope="openid offline_access email transfers",
                    redirect_uris=("http://127.0.0.1/healthz",),
                ),
            )
            await admin.create_user(ctx, "ann@example.com", "correct horse battery")
            await store.close()
            app = WebApp(client.client_id, secret)
            # Any loopback port is accepted (RFC 8252): the server's own /healthz
            # stands in for the application's callback page.
            callback = f"http://127.0.0.1:{server.port}/healthz"
            pkce = Pkce.new()
            params = authorize_params(
                app,
                pkce,
                redirect_uri=callback,
                scope="openid offline_access email transfers",
                prompt="consent",
            )
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
                    await page.goto(f"{server.base_url}/login")
                    await page.screenshot(path=out / f"sign-in-{label}.png")
                    await page.get_by_label("Email").fill("ann@example.com")
                    await page.get_by_label("Password").fill("correct horse battery")
                    await page.get_by_role("button", name="Sign in").click()
                    await page.goto(f"{server.base_url}/oauth/authorize?{urlencode(params)}")
                    await page.screenshot(path=out / f"consent-{label}.png")
                    async with page.expect_navigation(url=f"{callback}?*"):
                        await page.get_by_role("button", name="Allow").click()
                    # Play the application: exchange the code so the account page lists it.
                    code = parse_qs(urlsplit(page.url).query)["code"][0]
                    async with httpx.AsyncClient(base_url=server.base_url) as http:
                        await exchange(http, app, code, pkce, redirect_uri=callback)
                    await page.goto(f"{server.base_url}/account")
                    await page.screenshot(path=out / f"account-{label}.png", full_page=True)
                    await page.goto(f"{server.base_url}/account/claim")
                    await page.screenshot(path=out / f"claim-{label}.png")
                    await page.close()
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
