"""The refresh_token grant (RFC 6749 §6) with rotation, reuse detection and grace.

One conditional UPDATE decides the outcome (`Store.advance_refresh`):
- the current generation advances, and the previous access token dies with it;
- the immediately previous generation, retried within the client's grace window
  before its successor was used, gets the identical response (a lost response
  is safe to retry);
- any older generation revokes the whole grant and records a security event
  (OAuth 2.0 Security BCP §4.14.2).
"""

from __future__ import annotations

from typing import ClassVar

from keyturn.oauth import policy
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidGrant
from keyturn.oauth.grants.base import TokenRequest
from keyturn.oauth.issue import TokenResponse, token_response
from keyturn.oauth.levels import required_of
from keyturn.oauth.scope import narrow_scope
from keyturn.oauth.signals import Signal, note_bad_token, refresh_signals, signal_event
from keyturn.oauth.tokens import MalformedToken, RefreshToken
from keyturn.store.records import (
    Advanced,
    EventKind,
    Grant,
    NewEvent,
    NotFound,
    RefreshAttempt,
    Rejected,
    Replayed,
    ReuseDetected,
    RevocationReason,
)

INVALID = "The refresh token is invalid, expired or revoked."


class RefreshTokenGrant:
    grant_type: ClassVar[str] = "refresh_token"
    parameters: ClassVar[frozenset[str]] = frozenset({"refresh_token", "scope"})

    async def handle(self, request: TokenRequest, ctx: Context) -> TokenResponse:
        presented = request.require("refresh_token")
        try:
            token = await ctx.keys.read_refresh(presented)
        except MalformedToken as exc:
            await note_bad_token(ctx, request.ip, "refresh_token")
            raise InvalidGrant(INVALID, reason="unknown", detail=str(exc)) from None
        # Counted per token and address; a 503 (an outage) is not counted.
        async with ctx.limiter.counted(
            ctx.refresh_token_rate, "refresh", token.grant_id.hex(), request.ip or "-"
        ):
            return await self._refresh(request, ctx, token)

    async def _refresh(
        self, request: TokenRequest, ctx: Context, token: RefreshToken
    ) -> TokenResponse:
        client = request.client
        access_scope = None
        if "scope" in request.params:
            # Rare path: a grant's scope never changes, so reading it first is race-free.
            grant = await ctx.store.get_grant(token.grant_id)
            if grant is None or grant.client_id != client.client_id:
                raise InvalidGrant(INVALID, reason="unknown", detail="no such grant")
            access_scope = narrow_scope(request.params["scope"], grant.scope)

        now = ctx.clock.now()
        grace = client.grace_seconds
        outcome = await ctx.store.advance_refresh(
            RefreshAttempt(
                grant_id=token.grant_id,
                client_id=client.client_id,
                generation=token.generation,
                now=now,
                # Public clients cannot keep a secret, so their tokens always rotate.
                rotate=client.rotation or client.is_public,
                access_scope=access_scope,
                access_ttl=client.access_ttl,
                idle_cutoff=now - client.idle_ttl if client.idle_ttl else 0.0,
                grace_cutoff=now - grace if grace > 0 else float("inf"),
                ip=request.ip,
                min_auth_level=required_of(client.require_mfa),
            )
        )
        match outcome:
            case Advanced(grant):
                signals = refresh_signals(grant, now, ctx.signals)
                if signals:
                    await _act_on(signals, grant, request, ctx)
                return token_response(ctx.keys.ring, grant, client, ctx.issuer)
            case Replayed(grant):
                return token_response(ctx.keys.ring, grant, client, ctx.issuer)
            case ReuseDetected(grant):
                raise InvalidGrant(
                    INVALID,
                    reason=policy.REUSE_DETECTED,
                    detail=f"generation {token.generation} presented, grant at "
                    f"{grant.refresh_generation}",
                )
            case Rejected(reason, _):
                raise InvalidGrant(INVALID, reason=reason)
            case NotFound():
                await note_bad_token(ctx, request.ip, "refresh_token")
                raise InvalidGrant(INVALID, reason="unknown", detail="no such grant")


async def _act_on(signals: list[Signal], grant: Grant, request: TokenRequest, ctx: Context) -> None:
    """Record what the refresh showed, off the answer's path; and when a signal's policy
    is `revoke`, end the grant and refuse this refresh (its new tokens never leave)."""
    now = ctx.clock.now()
    revoking = [s for s in signals if ctx.signals.of(s.kind).action == "revoke"]
    for signal in signals:
        action = ctx.signals.of(signal.kind).action
        ctx.recorder.later(
            ctx.store.record_event(now, signal_event(signal, grant, request.ip, action))
        )
    if not revoking:
        return
    event = NewEvent(
        EventKind.SUSPECTED_COMPROMISE,
        client_id=grant.client_id,
        user_id=grant.user_id,
        grant_id=grant.grant_id,
        ip=request.ip,
        detail={"signals": [s.kind.value for s in revoking]},
    )
    await ctx.store.revoke_grant(
        grant.grant_id, RevocationReason.SUSPECTED_COMPROMISE, now, event=event
    )
    raise InvalidGrant(
        INVALID, reason=RevocationReason.SUSPECTED_COMPROMISE, detail="a signal revoked it"
    )
