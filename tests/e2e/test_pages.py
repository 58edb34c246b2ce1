"""Sign-in, consent, the account page and claiming, clicked through in Chromium."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from playwright.async_api import Browser, Page, expect

from keyturn.oauth.context import Context
from tests.http.helpers import assert_oauth_error, make_partner, refresh, user_tokens
from tests.http.oidc_helpers import (
    Pkce,
    WebApp,
    authorize_params,
    exchange,
    make_user,
    make_web_app,
)
from tests.support import ServerProcess

PASSWORD = "correct horse battery"


async def sign_in(page: Page, server: ServerProcess, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{server.base_url}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def authorize_in_browser(
    page: Page, server: ServerProcess, app: WebApp, pkce: Pkce, button: str, callback: str
) -> dict[str, str]:
    params = authorize_params(app, pkce, redirect_uri=callback)
    await page.goto(f"{server.base_url}/oauth/authorize?{urlencode(params)}")
    await expect(page.get_by_role("heading", name="Budget App wants access")).to_be_visible()
    await expect(page.get_by_text("Stay connected when you are not using the app")).to_be_visible()
    async with page.expect_navigation(url=f"{callback}?*"):
        await page.get_by_role("button", name=button).click()
    await expect(page.get_by_role("heading", name="Back at the app")).to_be_visible()
    answer = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert answer["state"] == params["state"]
    return answer


async def connect_app(
    page: Page, server: ServerProcess, http: httpx.AsyncClient, admin_ctx: Context, callback: str
) -> tuple[WebApp, dict[str, str], str]:
    app = await make_web_app(admin_ctx, redirect_uris=(callback,))
    email = await make_user(admin_ctx, PASSWORD)
    await sign_in(page, server, email)
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    pkce = Pkce.new()
    answer = await authorize_in_browser(page, server, app, pkce, "Allow", callback)
    response = await exchange(http, app, answer["code"], pkce, redirect_uri=callback)
    assert response.status_code == 200, response.text
    return app, response.json(), email


async def test_sign_in_rejects_a_wrong_password(
    page: Page, server: ServerProcess, admin_ctx: Context
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    await sign_in(page, server, email, "wrong password")
    await expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")


async def test_sign_in_then_allow_gives_the_app_a_code(
    page: Page,
    server: ServerProcess,
    http: httpx.AsyncClient,
    admin_ctx: Context,
    callback_url: str,
) -> None:
    _, tokens, _ = await connect_app(page, server, http, admin_ctx, callback_url)
    assert tokens["refresh_token"].startswith("ktr_") and "id_token" in tokens


async def test_deny_sends_access_denied(
    page: Page, server: ServerProcess, admin_ctx: Context, callback_url: str
) -> None:
    app = await make_web_app(admin_ctx, redirect_uris=(callback_url,))
    await sign_in(page, server, await make_user(admin_ctx, PASSWORD))
    answer = await authorize_in_browser(page, server, app, Pkce.new(), "Deny", callback_url)
    assert answer["error"] == "access_denied" and "code" not in answer


async def test_revoke_on_account_page_kills_the_refresh_token(
    page: Page,
    server: ServerProcess,
    http: httpx.AsyncClient,
    admin_ctx: Context,
    callback_url: str,
) -> None:
    app, tokens, _ = await connect_app(page, server, http, admin_ctx, callback_url)
    await page.goto(f"{server.base_url}/account")
    await expect(page.get_by_role("heading", name="Budget App")).to_be_visible()
    await page.get_by_role("button", name="Revoke access for Budget App").click()
    await expect(page.get_by_role("status")).to_contain_text("Access was revoked")
    await expect(page.get_by_text("No application has access to your account.")).to_be_visible()
    response = await refresh(http, app, tokens["refresh_token"])  # type: ignore[arg-type]
    assert assert_oauth_error(response, 400, "invalid_grant")["reason"] == "revoked_by_user"


async def test_enhanced_security_forces_every_app_to_reauthorise(
    page: Page,
    server: ServerProcess,
    http: httpx.AsyncClient,
    admin_ctx: Context,
    callback_url: str,
) -> None:
    app, tokens, _ = await connect_app(page, server, http, admin_ctx, callback_url)
    await page.goto(f"{server.base_url}/account")
    await page.get_by_role("button", name="Turn on enhanced security").click()
    await expect(page.get_by_role("status")).to_contain_text("Enhanced security is on")
    response = await refresh(http, app, tokens["refresh_token"])  # type: ignore[arg-type]
    assert assert_oauth_error(response, 400, "invalid_grant")["reason"] == "enhanced_security"


async def test_claiming_an_api_created_account(
    page: Page, server: ServerProcess, http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    await page.goto(f"{server.base_url}/account/claim")
    await page.get_by_label("Email").fill(tokens["email"])
    await page.get_by_label("Registration code").fill("code-1234567")
    await page.get_by_label("New password").fill("my own password")
    await page.get_by_role("button", name="Claim account").click()
    await expect(page.get_by_role("status")).to_contain_text("Your account is yours now")
    # The partner's code is dead; the tokens it already holds are not.
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
    assert (body["error_description"], body["reason"]) == (
        "Invalid user credentials.",
        "account_claimed",
    )
    assert (await refresh(http, partner, tokens["refresh_token"])).status_code == 200
    # And the person can now sign in with the password they chose.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, server, tokens["email"], "my own password")
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()


async def test_changing_the_password_signs_out_the_other_browser_and_keeps_this_one(
    page: Page, chromium: Browser, server: ServerProcess, admin_ctx: Context
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    await sign_in(page, server, email)
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    elsewhere = await chromium.new_context()
    try:
        other = await elsewhere.new_page()
        await sign_in(other, server, email)
        await expect(other.get_by_role("heading", name="Your account")).to_be_visible()
        await page.get_by_label("Current password").fill(PASSWORD)
        await page.get_by_label("New password").fill("a brand new passphrase")
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_role("status")).to_contain_text("Your password was changed")
        await other.goto(f"{server.base_url}/account")
        await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.goto(f"{server.base_url}/account")
        await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    finally:
        await elsewhere.close()


async def test_the_account_page_tells_of_a_reused_refresh_token(
    page: Page,
    server: ServerProcess,
    http: httpx.AsyncClient,
    admin_ctx: Context,
    callback_url: str,
) -> None:
    """Theft, noticed: an old refresh token used again revokes the access, and the user
    reads so, in plain words, on their account page."""
    app, tokens, _ = await connect_app(page, server, http, admin_ctx, callback_url)
    first = tokens["refresh_token"]
    rotated = await refresh(http, app, first)  # type: ignore[arg-type]
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert (await refresh(http, app, second)).status_code == 200  # type: ignore[arg-type]
    replay = await refresh(http, app, first)  # type: ignore[arg-type]
    assert assert_oauth_error(replay, 400, "invalid_grant")["reason"] == "reuse_detected"
    await page.goto(f"{server.base_url}/account")
    activity = page.get_by_role("region", name="Recent security activity")
    notice = activity.locator("li.alert")
    await expect(notice).to_contain_text(
        "Your access for Budget App was revoked because an old refresh token was used again."
    )
    await expect(activity).to_contain_text("You signed in.")
