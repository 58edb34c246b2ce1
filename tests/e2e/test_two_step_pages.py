"""Two-step verification and authentication policy, clicked through in Chromium.

The authenticator app is played by the test: it reads the `otpauth://` URI the
set-up page shows and computes codes from it, as a phone would from the QR code.
A single-page application on another origin calls the token endpoint with
`fetch`, so the browser itself decides what CORS allows.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from playwright.async_api import Browser, Page, expect

from keyturn.oauth.context import Context
from keyturn.oauth.two_step import code_at
from keyturn.operations.clients import update_client
from tests.e2e.test_pages import authorize_in_browser, sign_in
from tests.http.helpers import assert_oauth_error
from tests.http.oidc_helpers import (
    Pkce,
    WebApp,
    authorize_params,
    exchange,
    make_user,
    make_web_app,
)
from tests.http.test_authorize import verify_id_token
from tests.support import ServerProcess

PASSWORD = "correct horse battery"


def code_now(secret: str, steps_ahead: int = 0) -> str:
    return code_at(secret, time.time() + 30 * steps_ahead)


async def refresh(http: httpx.AsyncClient, app: WebApp, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return await http.post("/oauth/token", data=data, auth=app.auth or httpx.USE_CLIENT_DEFAULT)


async def turn_on_two_step(page: Page, server: ServerProcess) -> tuple[str, list[str]]:
    """From the account page, as a person with an authenticator app would."""
    await page.goto(f"{server.base_url}/account")
    await page.get_by_role("button", name="Turn on two-step verification").click()
    await expect(page.get_by_role("heading", name="Turn on two-step verification")).to_be_visible()
    await expect(page.locator("figure.qr svg")).to_be_visible()
    uri = await page.locator("#setup-uri").inner_text()
    assert uri.startswith("otpauth://totp/")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    await page.get_by_label("Authentication code").fill(code_now(secret))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Two-step verification is on")).to_be_visible()
    codes = [text.strip() for text in await page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == 10
    return secret, codes


async def second_step(page: Page, code: str) -> None:
    await expect(page.get_by_label("Authentication code")).to_be_visible()
    await page.get_by_label("Authentication code").fill(code)
    await page.get_by_role("button", name="Verify").click()


async def test_two_step_verification_from_set_up_to_a_level_2_grant(
    page: Page,
    chromium: Browser,
    server: ServerProcess,
    http: httpx.AsyncClient,
    admin_ctx: Context,
    callback_url: str,
) -> None:
    app = await make_web_app(admin_ctx, redirect_uris=(callback_url,))
    email = await make_user(admin_ctx, PASSWORD)
    await sign_in(page, server, email)
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    # A grant issued while a password was enough.
    pkce = Pkce.new()
    answer = await authorize_in_browser(page, server, app, pkce, "Allow", callback_url)
    weak = (await exchange(http, app, answer["code"], pkce, redirect_uri=callback_url)).json()
    elsewhere = await chromium.new_context()
    try:
        other = await elsewhere.new_page()
        await sign_in(other, server, email)
        await expect(other.get_by_role("heading", name="Your account")).to_be_visible()
        secret, codes = await turn_on_two_step(page, server)
        # The other browser was signed out; this one carries on.
        await other.goto(f"{server.base_url}/account")
        await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.get_by_role("link", name="Continue").click()
        await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        await expect(page.get_by_text("10 recovery codes left")).to_be_visible()
        # Signing in again asks for the code after the password.
        await sign_in(other, server, email)
        await expect(other.get_by_role("heading", name="Two-step verification")).to_be_visible()
        await second_step(other, code_now(secret, 1))
        await expect(other.get_by_role("heading", name="Your account")).to_be_visible()
        await expect(other.get_by_role("region", name="Recent security activity")).to_contain_text(
            "Two-step verification was turned on."
        )
    finally:
        await elsewhere.close()

    # The application now requires it: the password-only grant ends, a new one is level 2.
    await update_client(admin_ctx, app.client_id, {"require_mfa": True}, actor="cli")
    # The server hears of the change by a notice from the database, within moments.
    token, deadline = weak["refresh_token"], time.monotonic() + 5
    while (failed := await refresh(http, app, token)).status_code == 200:
        assert time.monotonic() < deadline, "the policy change never reached the server"
        token = failed.json()["refresh_token"]
        await asyncio.sleep(0.1)
    assert assert_oauth_error(failed, 400, "invalid_grant")["reason"] == "policy_changed"
    pkce = Pkce.new()
    params = authorize_params(app, pkce, redirect_uri=callback_url)
    async with page.expect_navigation(url=f"{callback_url}?*"):  # consented before
        await page.goto(f"{server.base_url}/oauth/authorize?{urlencode(params)}")
    answer = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert answer["state"] == params["state"]
    strong = (await exchange(http, app, answer["code"], pkce, redirect_uri=callback_url)).json()
    claims = await verify_id_token(http, strong["id_token"], app)
    assert (claims["acr"], claims["amr"]) == ("urn:keyturn:loa:2", ["pwd", "otp"])
    refreshed = await refresh(http, app, strong["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    again = await verify_id_token(http, refreshed.json()["id_token"], app)
    assert (again["acr"], again["amr"]) == ("urn:keyturn:loa:2", ["pwd", "otp"])
    assert codes


async def test_a_recovery_code_signs_in_once(
    page: Page, chromium: Browser, server: ServerProcess, admin_ctx: Context
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    await sign_in(page, server, email)
    _, codes = await turn_on_two_step(page, server)
    for attempt in range(2):
        context = await chromium.new_context()
        try:
            lost_phone = await context.new_page()
            await sign_in(lost_phone, server, email)
            await second_step(lost_phone, codes[0])
            if attempt == 0:
                await expect(lost_phone.get_by_role("heading", name="Your account")).to_be_visible()
                await expect(lost_phone.get_by_text("9 recovery codes left")).to_be_visible()
            else:
                await expect(lost_phone.get_by_role("alert")).to_contain_text("not right")
        finally:
            await context.close()


async def test_an_application_requiring_two_step_asks_to_set_it_up_first(
    page: Page,
    server: ServerProcess,
    http: httpx.AsyncClient,
    admin_ctx: Context,
    callback_url: str,
) -> None:
    app = await make_web_app(admin_ctx, redirect_uris=(callback_url,), require_mfa=True)
    await sign_in(page, server, await make_user(admin_ctx, PASSWORD))
    pkce = Pkce.new()
    params = authorize_params(app, pkce, redirect_uri=callback_url)
    await page.goto(f"{server.base_url}/oauth/authorize?{urlencode(params)}")
    await expect(page.get_by_role("heading", name="Two-step verification needed")).to_be_visible()
    await page.get_by_role("button", name="Turn on two-step verification").click()
    uri = await page.locator("#setup-uri").inner_text()
    await page.get_by_label("Authentication code").fill(
        code_now(parse_qs(urlsplit(uri).query)["secret"][0])
    )
    await page.get_by_role("button", name="Verify").click()
    await page.get_by_role("link", name="Continue").click()
    await expect(page.get_by_role("heading", name="Budget App wants access")).to_be_visible()
    async with page.expect_navigation(url=f"{callback_url}?*"):
        await page.get_by_role("button", name="Allow").click()
    answer = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert answer["state"] == params["state"]
    tokens = (await exchange(http, app, answer["code"], pkce, redirect_uri=callback_url)).json()
    claims = await verify_id_token(http, tokens["id_token"], app)
    assert claims["acr"] == "urn:keyturn:loa:2"


FETCH_TOKEN = """async ([url, clientId]) => {
  try {
    const answer = await fetch(url + "/oauth/token", {
      method: "POST",
      // A header outside the CORS-safelisted ones: the browser sends a preflight first.
      headers: {"Content-Type": "application/x-www-form-urlencoded", "X-Request-Id": "spa-1"},
      body: new URLSearchParams({grant_type: "refresh_token", refresh_token: "ktr_nope",
                                 client_id: clientId}),
    });
    return {status: answer.status, body: await answer.json(),
            requestId: answer.headers.get("X-Request-Id")};
  } catch (error) {
    return {blocked: String(error)};
  }
}"""


async def test_a_browser_app_on_a_registered_origin_reads_answers_others_cannot(
    page: Page, server: ServerProcess, admin_ctx: Context, callback_url: str
) -> None:
    """The app's page is the loopback callback page: http://127.0.0.1:PORT and
    http://localhost:PORT are two origins of it, one registered and one not."""
    spa_port = urlsplit(callback_url).port
    allowed = f"http://127.0.0.1:{spa_port}"
    app = await make_web_app(
        admin_ctx, public=True, allowed_origins=(allowed,), redirect_uris=(f"{allowed}/cb",)
    )
    await page.goto(callback_url)
    answer = await page.evaluate(FETCH_TOKEN, [server.base_url, app.client_id])
    assert answer.get("status") == 400, answer
    assert answer["body"]["error"] == "invalid_grant"
    assert answer["requestId"] == "spa-1"  # the page may read the id it sent
    await page.goto(callback_url.replace("127.0.0.1", "localhost"))  # nobody registered it
    refused = await page.evaluate(FETCH_TOKEN, [server.base_url, app.client_id])
    assert "blocked" in refused and "Failed to fetch" in refused["blocked"], refused
