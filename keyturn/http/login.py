"""Sign-in and sign-out pages, with back-off per account and per address."""

from __future__ import annotations

import asyncio

from keyturn.http.asgi import Request, Response
from keyturn.http.metrics import count_sign_in_failure
from keyturn.http.pending import second_step_redirect
from keyturn.http.session import current_session, end_session, start_session
from keyturn.http.web import (
    Web,
    form_fields,
    query_fields,
    safe_return_path,
)
from keyturn.oauth.context import Context
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.oauth.passwords import verify_password
from keyturn.operations import users

# Failed sign-ins allowed per window before the page asks to wait; windows
# expire, so nobody is locked out for good.
FAILURES_PER_ACCOUNT = 10
FAILURES_PER_ADDRESS = 50
WINDOW_MINUTES = 15
RETRY = "Something changed while you signed in. Please try again."


async def take_attempt(ctx: Context, kind: str, account: str, address: str) -> int | None:
    """Count a `kind` attempt ("signin", "claim", "two-step") on this account and from
    this address before it is made: None when it may be made, else the seconds to wait.
    Counted first, so that concurrent guesses cannot all pass a check made before any
    of them failed; a right one is given back (`attempt_succeeded`). The address count
    is shared by every kind."""
    on_account = await ctx.limiter.take(
        FAILURES_PER_ACCOUNT, WINDOW_MINUTES, f"{kind}-account", account
    )
    from_address = await ctx.limiter.take(
        FAILURES_PER_ADDRESS, WINDOW_MINUTES, "signin-address", address
    )
    wait = on_account or from_address
    if wait:  # not made, so not counted: waiting does not lengthen the wait
        await attempt_succeeded(ctx, kind, account, address)
    return wait


async def attempt_succeeded(ctx: Context, kind: str, account: str, address: str) -> None:
    """The attempt was right: it is no failure, on either count."""
    await ctx.limiter.give_back(FAILURES_PER_ACCOUNT, WINDOW_MINUTES, f"{kind}-account", account)
    await ctx.limiter.give_back(FAILURES_PER_ADDRESS, WINDOW_MINUTES, "signin-address", address)


class LoginPages:
    def __init__(self, web: Web) -> None:
        self.web = web

    def _form(
        self,
        request: Request,
        return_to: str,
        *,
        status: int = 200,
        error: str | None = None,
        email: str = "",
    ) -> Response:
        return self.web.render_signed_out_form(
            request, "login.html", status, return_to=return_to, error=error, email=email
        )

    async def show(self, request: Request, ctx: Context) -> Response:
        query, _ = query_fields(request)
        return self._form(request, safe_return_path(query.get("return_to")))

    async def submit(self, request: Request, ctx: Context) -> Response:
        form = form_fields(request)
        return_to = safe_return_path(form.get("return_to"))
        if not self.web.check_signed_out_csrf(request, form.get("csrf")):
            return self._form(
                request, return_to, status=400, error="Your session expired. Please try again."
            )
        email = normalise_email(form.get("email", ""))
        password = form.get("password", "")
        address = request.client_ip or "-"
        wait = await take_attempt(ctx, "signin", email, address)
        if wait:
            count_sign_in_failure("throttled")
            known = await ctx.store.get_user_by_email(email) if email else None
            await users.sign_in_failed(ctx, email, known, request.client_ip, throttled=True)
            minutes = max(1, round(wait / 60))
            return self._form(
                request,
                return_to,
                status=429,
                email=email,
                error=f"Too many attempts. Please try again in {minutes} minutes.",
            )
        user = await ctx.store.get_user_by_email(email) if email else None
        stored = user.password_hash if user is not None else None
        if not await asyncio.to_thread(verify_password, password, stored) or user is None:
            count_sign_in_failure("bad_credentials")
            await users.sign_in_failed(ctx, email, user, request.client_ip, throttled=False)
            return self._form(
                request, return_to, status=401, email=email, error="Incorrect email or password."
            )
        await attempt_succeeded(ctx, "signin", email, address)
        if user.disabled:
            return self._form(
                request, return_to, status=403, email=email, error="This account is disabled."
            )
        if user.two_step:  # no session until the code is right too
            return second_step_redirect(self.web, user, return_to, ctx.clock.now())
        response = self.web.redirect(return_to)
        if not await start_session(ctx, self.web, response, user.user_id, request.client_ip):
            # Two-step verification was turned on while the password was checked.
            now_user = await ctx.store.get_user(user.user_id)
            if now_user is None or now_user.disabled or not now_user.two_step:
                return self._form(request, return_to, status=409, email=email, error=RETRY)
            return second_step_redirect(self.web, now_user, return_to, ctx.clock.now())
        return response

    async def logout(self, request: Request, ctx: Context) -> Response:
        signed_in = await current_session(ctx, request)
        response = self.web.redirect("/login")
        if signed_in is not None and self.web.check_session_csrf(
            signed_in.token, form_fields(request).get("csrf")
        ):
            await end_session(ctx, self.web, response, signed_in)
        return response
