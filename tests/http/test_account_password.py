"""Changing the password on /account, over a real server on SQLite and PostgreSQL.

A password change is what a person does when they think someone else knows
the old one: every other signed-in browser must be signed out at once, the
change is recorded, and the current-password check backs off like sign-in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from keyturn.oauth.context import Context
from keyturn.oauth.passwords import verify_password
from tests.http.oidc_helpers import hidden, make_user, sign_in
from tests.support import ServerProcess

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"

Browser = Callable[[str, str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def browser(server: ServerProcess) -> Browser:
    """A fresh browser (its own cookie jar) signed in as `email`."""

    @asynccontextmanager
    async def signed_in(email: str, password: str = PASSWORD) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            response = await sign_in(client, email, password)
            assert response.status_code == 303, response.text
            yield client

    return signed_in


async def change_password(
    browser: httpx.AsyncClient, current: str, new: str, *, csrf: bool = True
) -> httpx.Response:
    form = {"current_password": current, "new_password": new}
    if csrf:
        form["csrf"] = hidden((await browser.get("/account")).text, "csrf")
    return await browser.post("/account/password", data=form)


async def is_signed_in(browser: httpx.AsyncClient) -> bool:
    response = await browser.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 303
    assert response.headers["location"] == "/login?return_to=/account"
    return False


async def can_sign_in(server: ServerProcess, email: str, password: str) -> bool:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await sign_in(client, email, password)
        assert response.status_code in (303, 401), response.text
        return response.status_code == 303


async def password_events(admin_ctx: Context, user_id: str) -> list[dict[str, object]]:
    events = await admin_ctx.store.list_events(limit=10_000)
    return [
        {"ip": e.ip, "detail": e.detail}
        for e in events
        if e.kind == "password_changed" and e.user_id == user_id
    ]


async def user_id_of(admin_ctx: Context, email: str) -> str:
    user = await admin_ctx.store.get_user_by_email(email)
    assert user is not None
    return user.user_id


async def test_changing_the_password_signs_out_every_other_session_but_this_one(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with (
        browser(email, PASSWORD) as here,
        browser(email, PASSWORD) as laptop,
        browser(email, PASSWORD) as phone,
    ):
        changed = await change_password(here, PASSWORD, NEW_PASSWORD)
        assert changed.status_code == 303
        assert changed.headers["location"] == "/account?done=password"
        assert await is_signed_in(here)
        assert "Your password was changed." in (await here.get("/account?done=password")).text
        assert not await is_signed_in(laptop)
        assert not await is_signed_in(phone)
    assert not await can_sign_in(server, email, PASSWORD)
    assert await can_sign_in(server, email, NEW_PASSWORD)


async def test_another_users_sessions_survive_a_password_change(
    admin_ctx: Context, browser: Browser
) -> None:
    email, other = await make_user(admin_ctx, PASSWORD), await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(other, PASSWORD) as bystander:
        assert (await change_password(here, PASSWORD, NEW_PASSWORD)).status_code == 303
        assert await is_signed_in(bystander)


async def test_a_password_change_is_recorded_with_the_user_and_the_address(
    admin_ctx: Context, browser: Browser
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    user_id = await user_id_of(admin_ctx, email)
    async with browser(email, PASSWORD) as here, browser(email, PASSWORD):
        assert (await change_password(here, PASSWORD, NEW_PASSWORD)).status_code == 303
    assert await password_events(admin_ctx, user_id) == [
        {"ip": "127.0.0.1", "detail": {"sessions_ended": 1}}
    ]


async def test_ten_wrong_current_passwords_make_even_the_right_one_wait(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(email, PASSWORD) as laptop:
        for _ in range(10):
            wrong = await change_password(here, "not my password", NEW_PASSWORD)
            assert wrong.status_code == 400
            assert "The current password is not right." in wrong.text
        refused = await change_password(here, PASSWORD, NEW_PASSWORD)
        assert refused.status_code == 429
        assert "Too many attempts" in refused.text
        # Nothing changed: both sessions stay, the old password still works.
        assert await is_signed_in(here)
        assert await is_signed_in(laptop)
    assert await can_sign_in(server, email, PASSWORD)
    assert await password_events(admin_ctx, await user_id_of(admin_ctx, email)) == []


async def test_wrong_guesses_from_two_sessions_of_one_account_add_up(
    admin_ctx: Context, browser: Browser
) -> None:
    """Someone holding a stolen session cookie cannot reset the count with another session."""
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as first, browser(email, PASSWORD) as second:
        for guesser in (first, second) * 5:
            assert (await change_password(guesser, "guess", NEW_PASSWORD)).status_code == 400
        assert (await change_password(first, PASSWORD, NEW_PASSWORD)).status_code == 429
        assert (await change_password(second, PASSWORD, NEW_PASSWORD)).status_code == 429


async def test_the_password_back_off_holds_back_neither_sign_in_nor_other_accounts(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    email, other = await make_user(admin_ctx, PASSWORD), await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(other, PASSWORD) as bystander:
        for _ in range(10):
            assert (await change_password(here, "guess", NEW_PASSWORD)).status_code == 400
        assert (await change_password(here, PASSWORD, NEW_PASSWORD)).status_code == 429
        assert (await change_password(bystander, PASSWORD, NEW_PASSWORD)).status_code == 303
    assert await can_sign_in(server, email, PASSWORD)


async def test_a_too_short_new_password_changes_nothing_and_ends_no_session(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(email, PASSWORD) as laptop:
        short = await change_password(here, PASSWORD, "short")
        assert short.status_code == 400
        assert "Use at least 8 characters." in short.text
        assert await is_signed_in(here)
        assert await is_signed_in(laptop)
    assert await can_sign_in(server, email, PASSWORD)
    assert not await can_sign_in(server, email, "short")
    assert await password_events(admin_ctx, await user_id_of(admin_ctx, email)) == []


async def test_a_wrong_current_password_ends_no_session(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(email, PASSWORD) as laptop:
        wrong = await change_password(here, "not my password", NEW_PASSWORD)
        assert wrong.status_code == 400
        assert await is_signed_in(here)
        assert await is_signed_in(laptop)
    assert await can_sign_in(server, email, PASSWORD)


async def test_a_change_posted_without_the_forms_csrf_token_changes_nothing(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    """Another site cannot change the password of a signed-in visitor (and sign out the rest)."""
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(email, PASSWORD) as laptop:
        forged = await change_password(here, PASSWORD, NEW_PASSWORD, csrf=False)
        assert forged.status_code == 400
        assert await is_signed_in(laptop)
    assert await can_sign_in(server, email, PASSWORD)


async def test_a_signed_out_browser_cannot_change_the_password(
    server: ServerProcess, admin_ctx: Context, browser: Browser
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as here, browser(email, PASSWORD) as laptop:
        csrf = hidden((await laptop.get("/account")).text, "csrf")
        assert (await change_password(here, PASSWORD, NEW_PASSWORD)).status_code == 303
        # The signed-out browser still holds a form from before; it must not work.
        late = await laptop.post(
            "/account/password",
            data={"csrf": csrf, "current_password": NEW_PASSWORD, "new_password": "mine now!"},
        )
        assert late.status_code == 303
        assert late.headers["location"] == "/login?return_to=/account"
    assert await can_sign_in(server, email, NEW_PASSWORD)


async def test_a_new_password_attackers_try_first_is_refused(
    browser: Browser, admin_ctx: Context
) -> None:
    email = await make_user(admin_ctx, PASSWORD)
    async with browser(email, PASSWORD) as signed_in:
        for weak, words in (("Password123", "attackers try"), (email, "email address")):
            refused = await change_password(signed_in, PASSWORD, weak)
            assert refused.status_code == 400 and words in refused.text
    assert await can_sign_in_with(admin_ctx, email, PASSWORD)


async def can_sign_in_with(admin_ctx: Context, email: str, password: str) -> bool:
    user = await admin_ctx.store.get_user_by_email(email)
    return user is not None and verify_password(password, user.password_hash)
