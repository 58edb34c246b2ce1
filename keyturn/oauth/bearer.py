"""Validate a bearer access token against its grant (RFC 6750)."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidToken
from keyturn.oauth.jwt_tokens import decode_jwt
from keyturn.oauth.levels import required_of
from keyturn.oauth.signals import note_bad_token
from keyturn.oauth.tokens import AccessToken, MalformedToken
from keyturn.store.records import Grant


@dataclass(frozen=True, slots=True)
class ValidAccess:
    token: AccessToken
    grant: Grant


def opaque_reference(ctx: Context, presented: str) -> str:
    """The `kta_` reference inside an RFC 9068 JWT access token, or the token itself."""
    if not presented.startswith("eyJ"):
        return presented
    try:
        claims = decode_jwt(ctx.keys.ring, presented, typ="at+jwt")
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(detail=f"bad JWT: {exc}") from None
    reference = claims.get("jti")
    if not isinstance(reference, str):
        raise InvalidToken(detail="JWT without a jti")
    return reference


async def check_access_token(ctx: Context, presented: str, ip: str | None = None) -> ValidAccess:
    """The token and its live grant; `InvalidToken` for anything else (counted against
    `ip` for the token-scan signal)."""
    try:
        return await _check(ctx, presented)
    except InvalidToken:
        await note_bad_token(ctx, ip, "access_token")
        raise


async def _check(ctx: Context, presented: str) -> ValidAccess:
    """The token and its live grant; `InvalidToken` for anything else.

    An access token is valid only while its generation is the grant's current
    access generation, so a refresh or a revocation kills it at once.
    """
    try:
        token = await ctx.keys.read_access(opaque_reference(ctx, presented))
    except MalformedToken as exc:
        raise InvalidToken(detail=str(exc)) from None
    now = ctx.clock.now()
    if token.expires_at <= now:
        raise InvalidToken(detail="expired")
    grant = await ctx.store.get_grant(token.grant_id)
    if (
        grant is None
        or grant.revoked_at is not None
        or grant.access_generation != token.generation
        or grant.expires_at <= now
    ):
        raise InvalidToken(detail="not the grant's current access token")
    if grant.auth_level < await required_level(ctx, grant.client_id):
        raise InvalidToken(detail="the client's policy needs a stronger sign-in")
    return ValidAccess(token, grant)


async def required_level(ctx: Context, client_id: str) -> int:
    """What the client's policy demands of its grants now (the client is cached)."""
    client = await ctx.store.get_client(client_id)
    return 1 if client is None else required_of(client.require_mfa)
