"""What a grant declares: its type, the parameters it reads, and `handle()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidGrant, InvalidRequest, OAuthError, UnauthorizedClient
from keyturn.oauth.issue import TokenResponse
from keyturn.store.records import GRANT_ID_BYTES, Client, NewGrant, RevocationReason


@dataclass(frozen=True, slots=True)
class TokenRequest:
    client: Client
    params: Mapping[str, str]
    ip: str | None

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if not value:
            raise InvalidRequest(f"The {name} parameter is required.")
        return value


# Grants that redeem what a user gave (a code, a refresh token) answer a disabled
# client with invalid_grant, reason client_disabled: the application learns the user
# must authorise again. The client's own grants answer unauthorized_client.
_USER_GRANTS = frozenset({"authorization_code", "refresh_token"})


def disabled_client_error(grant_type: str) -> OAuthError:
    if grant_type in _USER_GRANTS:
        return InvalidGrant("The client is disabled.", reason=RevocationReason.CLIENT_DISABLED)
    return UnauthorizedClient("The client is disabled.")


class GrantHandler(Protocol):
    grant_type: ClassVar[str]
    # Form parameters the grant reads besides grant_type and client
    # authentication; the token endpoint drops everything else.
    parameters: ClassVar[frozenset[str]]

    async def handle(self, request: TokenRequest, ctx: Context) -> TokenResponse: ...


def new_grant_id() -> bytes:
    return os.urandom(GRANT_ID_BYTES)


def new_grant(
    request: TokenRequest,
    ctx: Context,
    *,
    user_id: str | None,
    scope: str,
    with_refresh: bool,
    auth_time: float | None,
    auth_level: int = 1,
) -> NewGrant:
    """A fresh grant row for `request.client`, with the client's lifetimes."""
    now = ctx.clock.now()
    client = request.client
    access_expires_at = now + client.access_ttl
    expires_at = now + client.refresh_ttl if with_refresh else access_expires_at
    return NewGrant(
        grant_id=new_grant_id(),
        client_id=client.client_id,
        user_id=user_id,
        scope=scope,
        auth_time=auth_time,
        created_at=now,
        expires_at=expires_at,
        access_expires_at=min(access_expires_at, expires_at),
        has_refresh=with_refresh,
        ip=request.ip,
        auth_level=auth_level,
    )
