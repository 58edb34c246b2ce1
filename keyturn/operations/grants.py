"""Taking access back: by the user, by an operator, by the client itself."""

from __future__ import annotations

from keyturn.oauth.context import Context
from keyturn.operations import OperationError
from keyturn.store.records import EventKind, NewEvent, RevocationReason, User, user_actor


async def revoke_for_user(ctx: Context, user: User, grant_id: bytes, ip: str | None) -> bool:
    """The user revokes an application's access (and their consent to it) on the account
    page. False when the grant is not theirs (the store checks, on the locked row)."""
    event = NewEvent(
        EventKind.GRANT_REVOKED,
        actor=user_actor(user.user_id),
        user_id=user.user_id,
        grant_id=grant_id,
        ip=ip,
    )
    return await ctx.store.revoke_user_grant(grant_id, user.user_id, ctx.clock.now(), event)


async def revoke_grant(
    ctx: Context, grant_id: bytes, reason: RevocationReason, *, actor: str, note: str = ""
) -> bool:
    grant = await ctx.store.get_grant(grant_id)
    event = NewEvent(
        EventKind.GRANT_REVOKED,
        actor=actor,
        client_id=None if grant is None else grant.client_id,
        user_id=None if grant is None else grant.user_id,
        grant_id=grant_id,
        detail={"note": note} if note else {},
    )
    return await ctx.store.revoke_grant(grant_id, reason, ctx.clock.now(), event=event)


async def revoke_grants(
    ctx: Context,
    reason: RevocationReason,
    *,
    actor: str,
    user_id: str | None = None,
    client_id: str | None = None,
    note: str = "",
) -> int:
    """Every live grant of a user, of a client, or of a user at a client."""
    if user_id is None and client_id is None:
        raise OperationError("name a grant, a user or a client")
    event = NewEvent(
        EventKind.GRANTS_REVOKED,
        actor=actor,
        client_id=client_id,
        user_id=user_id,
        detail={"note": note} if note else {},
    )
    return await ctx.store.revoke_grants(
        reason, ctx.clock.now(), user_id=user_id, client_id=client_id, event=event
    )
