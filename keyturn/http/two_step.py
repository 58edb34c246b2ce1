"""Two-step verification pages: set up an authenticator app, turn it off, and the
second step of a sign-in (or of a step-up an application asks for)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import segno

from keyturn.http.account import AccountPages
from keyturn.http.asgi import Request, Response
from keyturn.http.login import attempt_succeeded, take_attempt
from keyturn.http.metrics import count_sign_in_failure
from keyturn.http.pending import PENDING_COOKIE, pending_user
from keyturn.http.session import (
    SignedIn,
    current_session,
    new_session,
    new_token,
    set_session_cookie,
)
from keyturn.http.web import Web, form_fields, query_fields, safe_return_path
from keyturn.oauth.context import Context
from keyturn.oauth.levels import MFA_LEVEL
from keyturn.operations import two_step, users
from keyturn.store.records import User

WRONG_CODE = "That code is not right. Try the newest code from your app."


@dataclass(frozen=True, slots=True)
class Verifying:
    """Who the second step is for: half signed in, or signed in and stepping up."""

    user: User
    signed_in: SignedIn | None


def qr_svg(uri: str) -> str:
    """The set-up URI as an inline SVG QR code (inline: the pages load no images)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff"))


class TwoStepPages:
    def __init__(self, web: Web, account: AccountPages) -> None:
        self.web = web
        self.account = account  # turning it off answers with the account page

    # -- the second step ---------------------------------------------------

    async def _verifying(self, ctx: Context, request: Request) -> Verifying | None:
        user = await pending_user(ctx, self.web, request)
        if user is not None:
            return Verifying(user, None)
        signed_in = await current_session(ctx, request)
        if (
            signed_in is not None
            and signed_in.user.two_step
            and signed_in.session.auth_level < MFA_LEVEL
        ):
            return Verifying(signed_in.user, signed_in)
        return None

    def _code_form(
        self, request: Request, return_to: str, *, status: int = 200, error: str | None = None
    ) -> Response:
        return self.web.render_signed_out_form(
            request, "two_step_login.html", status, return_to=return_to, error=error
        )

    async def show_code(self, request: Request, ctx: Context) -> Response:
        query, _ = query_fields(request)
        return_to = safe_return_path(query.get("return_to"))
        if await self._verifying(ctx, request) is None:
            return self.web.redirect("/login?" + urlencode({"return_to": return_to}))
        return self._code_form(request, return_to)

    async def submit_code(self, request: Request, ctx: Context) -> Response:
        form = form_fields(request)
        return_to = safe_return_path(form.get("return_to"))
        if not self.web.check_signed_out_csrf(request, form.get("csrf")):
            return self._code_form(
                request, return_to, status=400, error="Your session expired. Please try again."
            )
        verifying = await self._verifying(ctx, request)
        if verifying is None:
            return self.web.redirect("/login?" + urlencode({"return_to": return_to}))
        user, address = verifying.user, request.client_ip or "-"
        # Codes back off like passwords, on the same per-address count.
        wait = await take_attempt(ctx, "two-step", user.user_id, address)
        if wait:
            count_sign_in_failure("throttled")
            await users.sign_in_failed(
                ctx, user.email, user, request.client_ip, throttled=True, second_step=True
            )
            minutes = max(1, round(wait / 60))
            return self._code_form(
                request,
                return_to,
                status=429,
                error=f"Too many attempts. Please try again in {minutes} minutes.",
            )
        factor = two_step.factor_of(ctx, user, form.get("code", ""))
        accepted = False
        response = self.web.redirect(return_to)
        if factor is not None and verifying.signed_in is not None:
            session_hash = verifying.signed_in.session.session_hash
            token, renamed_to = new_token()  # a stronger session gets a new cookie
            accepted = await two_step.step_up(
                ctx, user, factor, session_hash, request.client_ip, renamed_to=renamed_to
            )
            if accepted:
                set_session_cookie(self.web, response, token)
        elif factor is not None:
            token, session = new_session(ctx, user.user_id, MFA_LEVEL)
            accepted = await two_step.sign_in(ctx, user, factor, session, request.client_ip)
            if accepted:
                set_session_cookie(self.web, response, token)
                self.web.cookie(response, PENDING_COOKIE, "", 0)
        if not accepted:
            count_sign_in_failure("bad_code")
            await users.sign_in_failed(
                ctx, user.email, user, request.client_ip, throttled=False, second_step=True
            )
            return self._code_form(request, return_to, status=401, error=WRONG_CODE)
        await attempt_succeeded(ctx, "two-step", user.user_id, address)
        return response

    # -- setting up and turning off ----------------------------------------

    async def show_intro(self, request: Request, ctx: Context) -> Response:
        """Where an application that needs two-step verification sends a user
        who has not set it up."""
        query, _ = query_fields(request)
        return_to = safe_return_path(query.get("return_to"))
        signed_in = await current_session(ctx, request)
        if signed_in is None:
            here = "/account/two-step?" + urlencode({"return_to": return_to})
            return self.web.redirect("/login?" + urlencode({"return_to": here}))
        if signed_in.user.two_step:
            return self.web.redirect(return_to)
        return self.web.render(
            "two_step_intro.html",
            return_to=return_to,
            csrf=self.web.session_csrf(signed_in.token),
        )

    def _setup_page(
        self,
        signed_in: SignedIn,
        setup: two_step.Setup,
        return_to: str,
        *,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        return self.web.render(
            "two_step_setup.html",
            status,
            uri=setup.uri,
            secret=setup.secret,
            setup=setup.token,
            qr=qr_svg(setup.uri),
            return_to=return_to,
            csrf=self.web.session_csrf(signed_in.token),
            error=error,
        )

    def _sign_in_again(self, return_to: str) -> Response:
        """Changing the second factor needs a fresh password sign-in."""
        again = "/account/two-step?" + urlencode({"return_to": return_to})
        return self.web.redirect("/login?" + urlencode({"return_to": again}))

    async def start_setup(self, request: Request, ctx: Context) -> Response:
        checked = await self.account.signed_in_form(request, ctx)
        if isinstance(checked, Response):
            return checked
        signed_in, form = checked
        return_to = safe_return_path(form.get("return_to"))
        if signed_in.user.two_step:
            return self.web.redirect("/account")
        if not two_step.signed_in_recently(ctx, signed_in.session):
            return self._sign_in_again(return_to)
        setup = two_step.new_setup(ctx, signed_in.user, signed_in.session.session_hash)
        return self._setup_page(signed_in, setup, return_to)

    async def confirm_setup(self, request: Request, ctx: Context) -> Response:
        checked = await self.account.signed_in_form(request, ctx)
        if isinstance(checked, Response):
            return checked
        signed_in, form = checked
        return_to = safe_return_path(form.get("return_to"))
        user, session_hash = signed_in.user, signed_in.session.session_hash
        setup = two_step.setup_of(ctx, user, session_hash, form.get("setup", ""))
        if user.two_step or setup is None:  # on already, or not this session's set-up
            return self.web.redirect("/account")
        if not two_step.signed_in_recently(ctx, signed_in.session, slack=two_step.SETUP_SECONDS):
            return self._sign_in_again(return_to)
        address = request.client_ip or "-"
        if await take_attempt(ctx, "two-step", user.user_id, address):
            error = "Too many attempts. Please try again later."
            return self._setup_page(signed_in, setup, return_to, status=429, error=error)
        token, renamed_to = new_token()  # the session, level 2 now, gets a new cookie
        codes = await two_step.confirm_setup(
            ctx,
            user,
            setup,
            form.get("code", ""),
            session_hash,
            request.client_ip,
            renamed_to=renamed_to,
        )
        if codes is None:
            return self._setup_page(signed_in, setup, return_to, status=400, error=WRONG_CODE)
        await attempt_succeeded(ctx, "two-step", user.user_id, address)
        response = self.web.render("recovery_codes.html", codes=codes, return_to=return_to)
        set_session_cookie(self.web, response, token)
        return response

    async def turn_off(self, request: Request, ctx: Context) -> Response:
        checked = await self.account.signed_in_form(request, ctx)
        if isinstance(checked, Response):
            return checked
        signed_in, form = checked
        user, address = signed_in.user, request.client_ip or "-"
        if not user.two_step:
            return self.web.redirect("/account")
        if await take_attempt(ctx, "two-step", user.user_id, address):
            return await self.account.page(
                ctx,
                signed_in,
                error="Too many attempts. Please try again later.",
                status=429,
            )
        if not await two_step.turn_off(
            ctx, user, form.get("code", ""), signed_in.session.session_hash, request.client_ip
        ):
            # A stolen session guessing codes here is as worth knowing as at sign-in.
            count_sign_in_failure("bad_code")
            await users.sign_in_failed(
                ctx, user.email, user, request.client_ip, throttled=False, second_step=True
            )
            return await self.account.page(ctx, signed_in, error=WRONG_CODE, status=400)
        await attempt_succeeded(ctx, "two-step", user.user_id, address)
        return self.web.redirect("/account?done=two-step-off")
