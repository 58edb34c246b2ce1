"""GET /oauth/authorize and the consent form (RFC 6749 §4.1.1, OIDC Core §3.1.2)."""

from __future__ import annotations

from urllib.parse import urlencode

from keyturn.http.asgi import Request, Response
from keyturn.http.session import SignedIn, current_session
from keyturn.http.web import Web, describe_scope, form_fields, parse_query, query_fields
from keyturn.oauth.authorize import (
    AuthorizationError,
    AuthorizationRequest,
    UnsafeTarget,
    issue_code,
    needs_consent,
    needs_login,
    read_authorization_request,
    remember_consent,
)
from keyturn.oauth.context import Context


class AuthorizePages:
    def __init__(self, web: Web) -> None:
        self.web = web

    async def start(self, request: Request, ctx: Context) -> Response:
        params, problem = query_fields(request)
        if problem:
            return self._unsafe(f"The authorization request cannot be read: {problem}.")
        try:
            authorization = await read_authorization_request(ctx, params)
            signed_in = await current_session(ctx, request)
            auth_time = signed_in.session.auth_time if signed_in else None
            if needs_login(authorization, auth_time, ctx.clock.now()):
                if "none" in authorization.prompt:
                    raise authorization.fail("login_required", "The user is not signed in.")
                return self.web.redirect(self._login_url(params), 302)
            assert signed_in is not None
            if signed_in.session.auth_level < authorization.auth_level:
                # The sign-in is not strong enough for this client or for acr_values:
                # step up with the second factor, or set one up first.
                if "none" in authorization.prompt:
                    raise authorization.fail(
                        "unmet_authentication_requirements",
                        "This application requires two-step verification.",
                    )
                page = "/login/two-step" if signed_in.user.two_step else "/account/two-step"
                return self.web.redirect(f"{page}?{urlencode({'return_to': _back(params)})}", 302)
            if await needs_consent(ctx, authorization, signed_in.user.user_id):
                if "none" in authorization.prompt:
                    raise authorization.fail("consent_required", "The user has not consented.")
                return self._consent_page(authorization, signed_in, params)
            location = await issue_code(
                ctx,
                authorization,
                signed_in.user.user_id,
                signed_in.session.auth_time,
                signed_in.session.auth_level,
            )
            return self.web.redirect(location, 302)
        except AuthorizationError as exc:
            return self._answer_error(exc, ctx, 302)

    async def decide(self, request: Request, ctx: Context) -> Response:
        """The consent form's answer: Allow or Deny."""
        form = form_fields(request)
        signed_in = await current_session(ctx, request)
        if signed_in is None or not self.web.check_session_csrf(signed_in.token, form.get("csrf")):
            return self._unsafe("Your session expired. Please start again from the application.")
        params, problem = parse_query(form.get("request", "").encode())
        try:
            if problem:
                raise UnsafeTarget("The authorization request was altered.")
            authorization = await read_authorization_request(ctx, params)
            if form.get("decision") != "allow":
                raise authorization.fail("access_denied", "The user denied the request.")
            if signed_in.session.auth_level < authorization.auth_level:
                raise authorization.fail(
                    "unmet_authentication_requirements",
                    "This application requires two-step verification.",
                )
            await remember_consent(ctx, authorization, signed_in.user.user_id)
            location = await issue_code(
                ctx,
                authorization,
                signed_in.user.user_id,
                signed_in.session.auth_time,
                signed_in.session.auth_level,
            )
            return self.web.redirect(location)
        except AuthorizationError as exc:
            return self._answer_error(exc, ctx, 303)

    def _answer_error(self, exc: AuthorizationError, ctx: Context, status: int) -> Response:
        if exc.may_redirect:
            return self.web.redirect(exc.location(ctx.issuer), status)
        return self._unsafe(exc.description)

    def _login_url(self, params: dict[str, str]) -> str:
        return "/login?" + urlencode({"return_to": _back(params)})

    def _consent_page(
        self, authorization: AuthorizationRequest, signed_in: SignedIn, params: dict[str, str]
    ) -> Response:
        again = {k: v for k, v in params.items() if k != "prompt"}
        return self.web.render(
            "consent.html",
            client_name=authorization.client.name,
            scopes=self._scope_lines(authorization.scope),
            email=signed_in.user.email,
            request=urlencode(again),
            csrf=self.web.session_csrf(signed_in.token),
        )

    @staticmethod
    def _scope_lines(scope: str) -> list[tuple[str, str]]:
        return list(zip(scope.split(), describe_scope(scope), strict=True))

    def _unsafe(self, message: str) -> Response:
        return self.web.render(
            "error.html", 400, title="This request cannot be completed", message=message
        )


def _back(params: dict[str, str]) -> str:
    """This authorization request, to come back to after signing in or stepping up.

    Without prompt=login and max_age: the sign-in they ask for is the one about to
    happen, and asking again on return would loop for ever (max_age=0 is always
    exceeded). The ID token's auth_time tells the client."""
    again = {name: value for name, value in params.items() if name != "max_age"}
    prompts = [p for p in again.pop("prompt", "").split() if p != "login"]
    if prompts:
        again["prompt"] = " ".join(prompts)
    return "/oauth/authorize?" + urlencode(again)
