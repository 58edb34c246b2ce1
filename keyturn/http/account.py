"""/account: connected applications, revoke, enhanced security, password, claim."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from keyturn.http.asgi import Request, Response
from keyturn.http.login import attempt_succeeded, take_attempt
from keyturn.http.session import SignedIn, current_session, start_session
from keyturn.http.web import Web, form_fields, query_fields
from keyturn.notify.words import ALERTS, describe
from keyturn.oauth.context import Context
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.oauth.issue import iso_timestamp
from keyturn.oauth.password_policy import password_problem
from keyturn.oauth.passwords import verify_password
from keyturn.operations import grants, users
from keyturn.store.records import Grant, user_actor

NOTICES = {
    "revoked": "Access was revoked. The application must ask you again.",
    "enhanced-on": "Enhanced security is on. Every application must ask you again.",
    "enhanced-off": "Enhanced security is off.",
    "password": "Your password was changed.",
    "claimed": "Welcome! Your account is yours now.",
    "two-step-off": "Two-step verification is off.",
}


# How many of the user's recent security events the page lists.
RECENT_EVENTS = 10


@dataclass(frozen=True, slots=True)
class Notice:
    """A security event as the account page tells it."""

    text: str
    when: str
    alert: bool


@dataclass(frozen=True, slots=True)
class Connection:
    """One connected application as the account page shows it."""

    grant_id: str
    client_name: str
    scopes: list[str]
    first_used: str
    last_used: str


class AccountPages:
    def __init__(self, web: Web) -> None:
        self.web = web

    async def show(self, request: Request, ctx: Context) -> Response:
        signed_in = await current_session(ctx, request)
        if signed_in is None:
            return self.web.redirect("/login?return_to=/account")
        query, _ = query_fields(request)
        return await self.page(ctx, signed_in, notice=NOTICES.get(query.get("done", "")))

    async def page(
        self,
        ctx: Context,
        signed_in: SignedIn,
        *,
        notice: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        grants = await ctx.store.list_grants(user_id=signed_in.user.user_id, now=ctx.clock.now())
        connections = [await self._connection(ctx, grant) for grant in grants]
        return self.web.render(
            "account.html",
            status,
            user=signed_in.user,
            connections=connections,
            events=await self._recent_events(ctx, signed_in.user.user_id),
            csrf=self.web.session_csrf(signed_in.token),
            notice=notice,
            error=error,
        )

    async def _recent_events(self, ctx: Context, user_id: str) -> list[Notice]:
        found = await ctx.store.page_events(
            kinds=(),
            user_id=user_id,
            client_id=None,
            since=None,
            before_id=None,
            limit=3 * RECENT_EVENTS,  # some kinds are not the user's to read
        )
        names: dict[str, str] = {}
        notices = []
        for event in found:
            if event.client_id is not None and event.client_id not in names:
                client = await ctx.store.get_client(event.client_id)
                names[event.client_id] = client.name if client else "an application"
            text = describe(event, names.get(event.client_id or ""))
            if text is not None:
                when = iso_timestamp(event.at)[:16].replace("T", " ") + " UTC"
                notices.append(Notice(text, when, event.kind in ALERTS))
        return notices[:RECENT_EVENTS]

    async def _connection(self, ctx: Context, grant: Grant) -> Connection:
        client = await ctx.store.get_client(grant.client_id)
        return Connection(
            grant_id=grant.grant_id.hex(),
            client_name=client.name if client else grant.client_id,
            scopes=[s for s in grant.scope.split()],
            first_used=iso_timestamp(grant.created_at)[:16].replace("T", " ") + " UTC",
            last_used=iso_timestamp(grant.last_used_at)[:16].replace("T", " ") + " UTC",
        )

    async def signed_in_form(
        self, request: Request, ctx: Context
    ) -> tuple[SignedIn, dict[str, str]] | Response:
        signed_in = await current_session(ctx, request)
        if signed_in is None:
            return self.web.redirect("/login?return_to=/account")
        form = form_fields(request)
        if not self.web.check_session_csrf(signed_in.token, form.get("csrf")):
            return self.web.render(
                "error.html",
                400,
                title="Please try again",
                message="The form expired. Reload the page and try again.",
            )
        return signed_in, form

    async def revoke(self, request: Request, ctx: Context) -> Response:
        checked = await self.signed_in_form(request, ctx)
        if isinstance(checked, Response):
            return checked
        signed_in, form = checked
        try:
            grant_id = bytes.fromhex(form.get("grant_id", ""))
        except ValueError:
            grant_id = b""
        # Taking access back also takes back consent: the next request asks again.
        if not grant_id or not await grants.revoke_for_user(
            ctx, signed_in.user, grant_id, request.client_ip
        ):
            return await self.page(ctx, signed_in, error="That access was not found.", status=404)
        return self.web.redirect("/account?done=revoked")

    async def enhanced_security(self, request: Request, ctx: Context) -> Response:
        checked = await self.signed_in_form(request, ctx)
        if isinstance(checked, Response):
            return checked
        signed_in, form = checked
        enabled = form.get("enabled") == "on"
        user = signed_in.user
        await users.set_enhanced_security(
            ctx, user, enabled, actor=user_actor(user.user_id), ip=request.client_ip
        )
        return self.web.redirect("/account?done=" + ("enhanced-on" if enabled else "enhanced-off"))

    async def change_password(self, request: Request, ctx: Context) -> Response:
        checked = await self.signed_in_form(request, ctx)
        if isinstance(checked, Response):
            return checked
        signed_in, form = checked
        user = signed_in.user
        current, new = form.get("current_password", ""), form.get("new_password", "")
        # A signed-in session is not proof of knowing the password (a borrowed
        # laptop, a stolen cookie), so guesses back off like sign-in, per account.
        address = request.client_ip or "-"
        wait = await take_attempt(ctx, "password", user.email, address)
        if wait:
            minutes = max(1, round(wait / 60))
            return await self.page(
                ctx,
                signed_in,
                error=f"Too many attempts. Please try again in {minutes} minutes.",
                status=429,
            )
        if not await asyncio.to_thread(verify_password, current, user.password_hash):
            return await self.page(
                ctx, signed_in, error="The current password is not right.", status=400
            )
        await attempt_succeeded(ctx, "password", user.email, address)
        problem = password_problem(new, user.email)
        if problem:
            return await self.page(ctx, signed_in, error=problem, status=400)
        # Whoever else is signed in may be the reason for the change: sign them
        # out, keep this browser, and record it, in one transaction.
        await users.change_password(
            ctx, user, new, signed_in.session.session_hash, request.client_ip
        )
        return self.web.redirect("/account?done=password")

    async def show_claim(self, request: Request, ctx: Context) -> Response:
        return self.web.render_signed_out_form(request, "claim.html", error=None, email="")

    async def claim(self, request: Request, ctx: Context) -> Response:
        """An API-created user takes over the account: the partner's code stops working."""
        form = form_fields(request)
        email = normalise_email(form.get("email", ""))
        if not self.web.check_signed_out_csrf(request, form.get("csrf")):
            return self.web.render_signed_out_form(
                request,
                "claim.html",
                400,
                email=email,
                error="Your session expired. Please try again.",
            )
        code, password = form.get("registration_code", ""), form.get("new_password", "")
        address = request.client_ip or "-"
        wait = await take_attempt(ctx, "claim", email, address)
        if wait:
            return self.web.render_signed_out_form(
                request,
                "claim.html",
                429,
                email=email,
                error="Too many attempts. Please try again later.",
            )
        problem = password_problem(password, email)
        if problem:
            return self.web.render_signed_out_form(
                request, "claim.html", 400, email=email, error=problem
            )
        user = await ctx.store.get_user_by_email(email) if email else None
        stored = user.registration_code_hash if user and user.claimed_at is None else None
        if not await asyncio.to_thread(verify_password, code, stored) or user is None:
            return self.web.render_signed_out_form(
                request,
                "claim.html",
                401,
                email=email,
                error="That email and registration code do not match.",
            )
        await attempt_succeeded(ctx, "claim", email, address)
        claimed = await users.claim_user(
            ctx, user, password, actor=user_actor(user.user_id), ip=request.client_ip
        )
        if not claimed:
            return self.web.render_signed_out_form(
                request,
                "claim.html",
                409,
                email=email,
                error="This account has already been claimed.",
            )
        response = self.web.redirect("/account?done=claimed")
        await start_session(ctx, self.web, response, user.user_id, request.client_ip)
        return response
