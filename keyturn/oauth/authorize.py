"""The authorization endpoint's decisions (RFC 6749 §4.1.1, OIDC Core §3.1.2).

Errors about the client or the redirect URI are shown to the person and never
redirected (§4.1.2.1): an attacker must not be able to bounce a browser to an
unregistered URI. Every other error is redirected back to the client with
`state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidScope
from keyturn.oauth.grants.authorization_code import code_hash
from keyturn.oauth.levels import acr_of
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
    # The authentication level the sign-in must reach: acr_values, or the client's policy.
    auth_level: int = 1

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
    """Check the request in the order §4.1.2.1 demands: the client and its redirect URI
    first (until both are trusted nothing may be redirected), then everything else."""
    client, redirect_uri = await _trusted_target(ctx, params)
    state = params.get("state")

    def fail(error: str, description: str) -> AuthorizationError:
        return AuthorizationError(error, description, redirect_uri=redirect_uri, state=state)

    if params.get("response_type") not in RESPONSE_TYPES:
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "The client may not use the authorization code flow.")
    prompt, max_age = _prompt_and_max_age(params, fail)
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=_requested_scope(client, params, fail),
        state=state,
        code_challenge=_code_challenge(client, params, fail),
        nonce=params.get("nonce"),
        prompt=prompt,
        max_age=max_age,
        auth_level=required_level(client, params.get("acr_values")),
    )


def required_level(client: Client, acr_values: str | None) -> int:
    """2 when the client requires a second factor or asks for it with acr_values
    (OIDC Core §3.1.2.1; unknown values are ignored, as a voluntary request)."""
    asked = (acr_values or "").split()
    return 2 if client.require_mfa or acr_of(2) in asked else 1


Fail = Callable[[str, str], AuthorizationError]


async def _trusted_target(ctx: Context, params: Mapping[str, str]) -> tuple[Client, str]:
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
    return client, redirect_uri


def _requested_scope(client: Client, params: Mapping[str, str], fail: Fail) -> str:
    try:
        requested = parse_scope(params.get("scope", "")) or parse_scope(client.scope)
    except InvalidScope as exc:
        raise fail("invalid_scope", exc.description) from None
    if set(requested) - set(parse_scope(client.scope)):
        raise fail("invalid_scope", "The requested scope exceeds what the client may ask for.")
    return " ".join(requested)


def _code_challenge(client: Client, params: Mapping[str, str], fail: Fail) -> str | None:
    """RFC 7636 §4.3, S256 only; required of public clients (RFC 9700 §2.1.1)."""
    challenge = params.get("code_challenge")
    if challenge is None:
        if client.is_public:
            raise fail("invalid_request", "Public clients must use PKCE (code_challenge).")
        return None
    if params.get("code_challenge_method", "plain") not in CHALLENGE_METHODS:
        raise fail("invalid_request", "Only code_challenge_method=S256 is supported.")
    if not valid_challenge(challenge):
        raise fail("invalid_request", "The code_challenge is not a valid S256 challenge.")
    return challenge


def _prompt_and_max_age(params: Mapping[str, str], fail: Fail) -> tuple[frozenset[str], int | None]:
    prompt = frozenset(params.get("prompt", "").split())
    if prompt - PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise fail("invalid_request", "The prompt parameter is not valid.")
    if "max_age" not in params:
        return prompt, None
    text = params["max_age"]
    # ASCII digits only: int() would also take " 5", "+5", "1_000" and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise fail("invalid_request", "max_age must be a whole number of seconds.")
    return prompt, int(text)


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
    ctx: Context,
    request: AuthorizationRequest,
    user_id: str,
    auth_time: float,
    auth_level: int = 1,
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
            auth_level=auth_level,
        )
    )
    params = {"code": code, "iss": ctx.issuer}
    if request.state is not None:
        params["state"] = request.state
    return with_query(request.redirect_uri, params)
