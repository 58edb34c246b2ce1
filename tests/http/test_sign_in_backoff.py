"""Back-off after failed sign-ins and claims (keyturn/http/login.py), on a real server."""

from __future__ import annotations

import uuid

import httpx

from keyturn.oauth.context import Context
from tests.http.oidc_helpers import make_user, sign_in
from tests.support import ServerProcess

PASSWORD = "correct horse battery"


async def claim(browser: httpx.AsyncClient, email: str, code: str) -> httpx.Response:
    return await browser.post(
        "/account/claim",
        data={"email": email, "registration_code": code, "new_password": "a new password"},
    )


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
