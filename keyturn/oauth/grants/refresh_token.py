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
from keyturn.oauth.scope import narrow_scope
from keyturn.oauth.tokens import MalformedToken
from keyturn.store.records import (
    Advanced,
    NotFound,
    RefreshAttempt,
    Rejected,
    Replayed,
    ReuseDetected,
)

INVALID = "The refresh token is invalid, expired or revoked."


class RefreshTokenGrant:
    grant_type: ClassVar[str] = "refresh_token"
    parameters: ClassVar[frozenset[str]] = frozenset({"refresh_token", "scope"})

    async def handle(self, request: TokenRequest, ctx: Context) -> TokenResponse:
        presented = request.require("refresh_token")
        client = request.client
        try:
            token = await ctx.keys.read_refresh(presented)
        except MalformedToken as exc:
            raise InvalidGrant(INVALID, reason="unknown", detail=str(exc)) from None
        await ctx.limiter.check(
            ctx.refresh_token_rate, "refresh", token.grant_id.hex(), request.ip or "-"
        )

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
            )
        )
        match outcome:
            case Advanced(grant) | Replayed(grant):
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
                raise InvalidGrant(INVALID, reason="unknown", detail="no such grant")
