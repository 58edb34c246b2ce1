"""Validate a bearer access token against its grant (RFC 6750)."""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidToken
from keyturn.oauth.tokens import AccessToken, MalformedToken
from keyturn.store.records import Grant


@dataclass(frozen=True, slots=True)
class ValidAccess:
    token: AccessToken
    grant: Grant


async def check_access_token(ctx: Context, presented: str) -> ValidAccess:
    """The token and its live grant; `InvalidToken` for anything else.

    An access token is valid only while its generation is the grant's current
    access generation, so a refresh or a revocation kills it at once.
    """
    try:
        token = await ctx.keys.read_access(presented)
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
    return ValidAccess(token, grant)
