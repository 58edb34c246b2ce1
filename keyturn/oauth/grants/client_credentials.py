"""The client_credentials grant (RFC 6749 §4.4): an access token, never a refresh token."""

from __future__ import annotations

from typing import ClassVar

from keyturn.oauth.context import Context
from keyturn.oauth.errors import UnauthorizedClient
from keyturn.oauth.grants.base import TokenRequest, new_grant
from keyturn.oauth.issue import TokenResponse, token_response
from keyturn.oauth.scope import narrow_scope


class ClientCredentialsGrant:
    grant_type: ClassVar[str] = "client_credentials"
    parameters: ClassVar[frozenset[str]] = frozenset({"scope"})

    async def handle(self, request: TokenRequest, ctx: Context) -> TokenResponse:
        client = request.client
        if client.is_public:
            raise UnauthorizedClient("Public clients cannot use client_credentials.")
        scope = narrow_scope(request.params.get("scope"), client.scope)
        grant = await ctx.store.create_grant(
            new_grant(request, ctx, user_id=None, scope=scope, with_refresh=False, auth_time=None)
        )
        return token_response(ctx.keys.ring, grant, client, ctx.issuer)
