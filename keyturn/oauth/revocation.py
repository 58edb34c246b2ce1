"""Token revocation (RFC 7009).

Revoking a refresh token revokes its grant: every access and refresh token
issued from it. Revoking an access token retires that token only. The answer
is the same whether or not anything was revoked (§2.2), so nothing about
other clients' tokens leaks.
"""

from __future__ import annotations

from keyturn.oauth import policy
from keyturn.oauth.bearer import opaque_reference
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidToken
from keyturn.oauth.tokens import ACCESS_PREFIX, REFRESH_PREFIX, MalformedToken
from keyturn.store.records import Client, EventKind, NewEvent, client_actor


async def revoke_token(ctx: Context, client: Client, presented: str) -> bool:
    """Return whether anything was revoked; callers answer 200 either way."""
    try:
        if presented.startswith(REFRESH_PREFIX):
            refresh = await ctx.keys.read_refresh(presented)
            event = NewEvent(
                EventKind.GRANT_REVOKED,
                actor=client_actor(client.client_id),
                client_id=client.client_id,
                grant_id=refresh.grant_id,
            )
            return await ctx.store.revoke_grant(
                refresh.grant_id,
                policy.REVOKED_BY_CLIENT,
                ctx.clock.now(),
                client_id=client.client_id,
                event=event,
            )
        if presented.startswith((ACCESS_PREFIX, "eyJ")):
            access = await ctx.keys.read_access(opaque_reference(ctx, presented))
            grant = await ctx.store.get_grant(access.grant_id)
            if grant is None or grant.client_id != client.client_id:
                return False
            return await ctx.store.revoke_access(access.grant_id, access.generation)
    except (MalformedToken, InvalidToken):
        return False
    return False
