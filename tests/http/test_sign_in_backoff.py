"""Sign-in and claim forms on a real server: back-off after failures, and CSRF."""

from __future__ import annotations

import uuid

import httpx

from keyturn.http.web import SESSION_COOKIE
from keyturn.oauth.context import Context
from keyturn.oauth.signup import SignupRequest, create_partner_user
from tests.http.oidc_helpers import hidden, make_user, make_web_app, sign_in
from tests.support import ServerProcess

PASSWORD = "correct horse battery"


async def claim(
    browser: httpx.AsyncClient, email: str, code: str, *, csrf: bool = True
) -> httpx.Response:
    form = {"email": email, "registration_code": code, "new_password": "a new password"}
    if csrf:
        form["csrf"] = hidden((await browser.get("/account/claim")).text, "csrf")
    return await browser.post("/account/claim", data=form)


async def test_ten_failed_sign_ins_make_the_account_wait(
    server: ServerProcess, admin_ctx: Context
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        for _ in range(10):
            assert (await sign_in(browser, email, "wrong password")).status_code == 401
        # Now even the right password waits; the page says so.
        refused = await sign_in(browser, email, PASSWORD)
        assert refused.status_code == 429
        assert "Too many attempts" in refused.text
        # Another account from the same address is not held back by this one.
        other = await make_user(admin_ctx, PASSWORD)
        assert (await sign_in(browser, other, PASSWORD)).status_code in (302, 303)


async def test_ten_failed_claims_make_that_email_wait_for_claims_only(
    server: ServerProcess, admin_ctx: Context
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        for _ in range(10):
            assert (await claim(browser, email, uuid.uuid4().hex)).status_code == 401
        refused = await claim(browser, email, uuid.uuid4().hex)
        assert refused.status_code == 429
        assert "Too many attempts" in refused.text
        # Claims and sign-ins count per account separately.
        assert (await sign_in(browser, email, PASSWORD)).status_code in (302, 303)


async def test_a_claim_posted_without_the_forms_csrf_token_changes_nothing(
    server: ServerProcess, admin_ctx: Context
) -> None:
    """Another site must not be able to sign a visitor into an account it claimed."""
    partner = await make_web_app(admin_ctx, grant_types=("registration_code",))
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    await create_partner_user(admin_ctx, partner.client_id, SignupRequest(email, "code-1234567"))
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        refused = await claim(browser, email, "code-1234567", csrf=False)
        assert refused.status_code == 400
        assert not any(
            cookie.startswith(f"{SESSION_COOKIE}=")
            for cookie in refused.headers.get_list("set-cookie")
        )
        user = await admin_ctx.store.get_user_by_email(email)
        assert user is not None and user.claimed_at is None
        # With the form's token the same claim goes through.
        assert (await claim(browser, email, "code-1234567")).status_code == 303
        user = await admin_ctx.store.get_user_by_email(email)
        assert user is not None and user.claimed_at is not None
