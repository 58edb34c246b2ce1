"""Token introspection (RFC 7662): anything not currently valid is just inactive."""

from __future__ import annotations

from typing import Any

from keyturn.oauth.bearer import check_access_token
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidToken
from keyturn.oauth.levels import required_of
from keyturn.oauth.tokens import ACCESS_PREFIX, REFRESH_PREFIX, MalformedToken

INACTIVE: dict[str, Any] = {"active": False}


async def introspect_token(ctx: Context, presented: str) -> dict[str, Any]:
    if presented.startswith((ACCESS_PREFIX, "eyJ")):
        try:
            valid = await check_access_token(ctx, presented)
        except InvalidToken:
            return INACTIVE
        grant = valid.grant
        return _active(
            ctx,
            grant.access_scope,
            grant.client_id,
            grant.user_id,
            "Bearer",
            valid.token.expires_at,
            grant.rotated_at,
        )
    if presented.startswith(REFRESH_PREFIX):
        try:
            token = await ctx.keys.read_refresh(presented)
        except MalformedToken:
            return INACTIVE
        found = await ctx.store.get_grant(token.grant_id)
        now = ctx.clock.now()
        if (
            found is None
            or not found.has_refresh
            or found.revoked_at is not None
            or found.expires_at <= now
            or found.refresh_generation != token.generation
        ):
            return INACTIVE
        client = await ctx.store.get_client(found.client_id)
        if (
            client is None
            or client.disabled
            or (client.idle_ttl and found.last_used_at < now - client.idle_ttl)
            or found.auth_level < required_of(client.require_mfa)
        ):
            return INACTIVE
        return _active(
            ctx,
            found.scope,
            found.client_id,
            found.user_id,
            "refresh_token",
            found.expires_at,
            found.rotated_at,
        )
    return INACTIVE


def _active(
    ctx: Context,
    scope: str,
    client_id: str,
    user_id: str | None,
    token_type: str,
    expires_at: float,
    issued_at: float,
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "active": True,
        "scope": scope,
        "client_id": client_id,
        "token_type": token_type,
        "exp": int(expires_at),
        "iat": int(issued_at),
        "iss": ctx.issuer,
    }
    # A client_credentials token acts for the client itself.
    answer["sub"] = user_id if user_id is not None else client_id
    return answer
