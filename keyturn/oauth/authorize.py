"""The authorization endpoint's decisions (RFC 6749 §4.1.1, OIDC Core §3.1.2).

Errors about the client or the redirect URI are shown to the person and never
redirected (§4.1.2.1): an attacker must not be able to bounce a browser to an
unregistered URI. Every other error is redirected back to the client with
`state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidScope
from keyturn.oauth.grants.authorization_code import code_hash
from keyturn.oauth.pkce import CHALLENGE_METHODS, valid_challenge
from keyturn.oauth.policy import AUTHORIZATION_CODE_TTL
from keyturn.oauth.redirect_uris import redirect_uri_allowed
from keyturn.oauth.scope import parse_scope
from keyturn.store.records import AuthorizationCode, Client

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
RESPONSE_TYPES = frozenset({"code"})


class AuthorizationError(Exception):
    """An authorization request that cannot be granted, typed by its wire `error`.

    `may_redirect` says whether the error can go back to the client (§4.1.2.1):
    only once the client and its redirect URI are trusted. Until then it is
    shown to the person instead, or the redirect would be an open redirect.
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state

    @property
    def may_redirect(self) -> bool:
        return self.redirect_uri is not None

    def location(self, issuer: str) -> str:
        assert self.redirect_uri is not None, "an unsafe target is never redirected to"
        params = {"error": self.error, "error_description": self.description, "iss": issuer}
        if self.state is not None:
            params["state"] = self.state
        return with_query(self.redirect_uri, params)


class UnsafeTarget(AuthorizationError):
    """The client or redirect URI cannot be trusted: an error page, never a redirect."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_request", description)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str | None
    nonce: str | None
    prompt: frozenset[str]
    max_age: int | None

    def fail(self, error: str, description: str) -> AuthorizationError:
        return AuthorizationError(
            error, description, redirect_uri=self.redirect_uri, state=self.state
        )


def with_query(uri: str, params: Mapping[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


async def read_authorization_request(
    ctx: Context, params: Mapping[str, str]
) -> AuthorizationRequest:
    client_id = params.get("client_id")
    client = await ctx.store.get_client(client_id) if client_id else None
    if client is None:
        raise UnsafeTarget("The application is not known to this server.")
    if client.disabled:
        raise UnsafeTarget("This application has been disabled.")
    redirect_uri = params.get("redirect_uri") or (
        client.redirect_uris[0] if len(client.redirect_uris) == 1 else ""
    )
    if not redirect_uri or not redirect_uri_allowed(client, redirect_uri):
        raise UnsafeTarget("The redirect URI is not registered for this application.")

    state = params.get("state")

    def fail(error: str, description: str) -> AuthorizationError:
        return AuthorizationError(error, description, redirect_uri=redirect_uri, state=state)

    if params.get("response_type") not in RESPONSE_TYPES:
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "The client may not use the authorization code flow.")
    try:
        requested = parse_scope(params.get("scope", "")) or parse_scope(client.scope)
    except InvalidScope as exc:
        raise fail("invalid_scope", exc.description) from None
    extra = set(requested) - set(parse_scope(client.scope))
    if extra:
        raise fail("invalid_scope", "The requested scope exceeds what the client may ask for.")

    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method", "plain" if challenge else None)
    if challenge is not None:
        if method not in CHALLENGE_METHODS:
            raise fail("invalid_request", "Only code_challenge_method=S256 is supported.")
        if not valid_challenge(challenge):
            raise fail("invalid_request", "The code_challenge is not a valid S256 challenge.")
    elif client.is_public:
        raise fail("invalid_request", "Public clients must use PKCE (code_challenge).")

    prompt = frozenset(params.get("prompt", "").split())
    if prompt - PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise fail("invalid_request", "The prompt parameter is not valid.")
    max_age: int | None = None
    if "max_age" in params:
        try:
            max_age = int(params["max_age"])
        except ValueError:
            raise fail("invalid_request", "max_age must be a whole number of seconds.") from None
        if max_age < 0:
            raise fail("invalid_request", "max_age must not be negative.")

    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=" ".join(requested),
        state=state,
        code_challenge=challenge,
        nonce=params.get("nonce"),
        prompt=prompt,
        max_age=max_age,
    )


def needs_login(request: AuthorizationRequest, auth_time: float | None, now: float) -> bool:
    if auth_time is None or "login" in request.prompt:
        return True
    return request.max_age is not None and now - auth_time > request.max_age


async def needs_consent(ctx: Context, request: AuthorizationRequest, user_id: str) -> bool:
    if "consent" in request.prompt:
        return True
    remembered = await ctx.store.get_consent(user_id, request.client.client_id)
    if remembered is None:
        return True
    return not set(request.scope.split()) <= set(remembered.split())


async def remember_consent(ctx: Context, request: AuthorizationRequest, user_id: str) -> None:
    previous = await ctx.store.get_consent(user_id, request.client.client_id) or ""
    merged = dict.fromkeys([*previous.split(), *request.scope.split()])
    await ctx.store.save_consent(
        user_id, request.client.client_id, " ".join(merged), ctx.clock.now()
    )


async def issue_code(
    ctx: Context, request: AuthorizationRequest, user_id: str, auth_time: float
) -> str:
    """Store a fresh code and return the redirect to the client (§4.1.2)."""
    code = secrets.token_urlsafe(32)
    await ctx.store.create_code(
        AuthorizationCode(
            code_hash=code_hash(code),
            client_id=request.client.client_id,
            user_id=user_id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            code_challenge=request.code_challenge,
            nonce=request.nonce,
            auth_time=auth_time,
            expires_at=ctx.clock.now() + AUTHORIZATION_CODE_TTL,
        )
    )
    params = {"code": code, "iss": ctx.issuer}
    if request.state is not None:
        params["state"] = request.state
    return with_query(request.redirect_uri, params)
