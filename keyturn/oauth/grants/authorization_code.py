"""The authorization_code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636).

Codes are single use: redeeming one and creating its grant is one store
transaction, and presenting a used code again revokes the grant it produced
(RFC 6749 §4.1.2). A refresh token comes only with `offline_access` (OIDC Core
§11) or for a client configured to always receive one.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidGrant
from keyturn.oauth.grants.base import TokenRequest, new_grant
from keyturn.oauth.issue import TokenResponse, token_response
from keyturn.oauth.pkce import verifier_matches
from keyturn.oauth.scope import has_scope
from keyturn.store.records import CodeExchanged, CodeReplayed

INVALID = "The authorization code is invalid, expired or already used."


def code_hash(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest()


class AuthorizationCodeGrant:
    grant_type: ClassVar[str] = "authorization_code"
    parameters: ClassVar[frozenset[str]] = frozenset({"code", "redirect_uri", "code_verifier"})

    async def handle(self, request: TokenRequest, ctx: Context) -> TokenResponse:
        presented = request.require("code")
        redirect_uri = request.require("redirect_uri")
        verifier = request.params.get("code_verifier")
        client = request.client
        hashed = code_hash(presented)
        code = await ctx.store.get_code(hashed)
        if code is None or code.client_id != client.client_id:
            raise InvalidGrant(INVALID, reason="unknown", detail="no such code for this client")
        if code.used_at is None:
            if code.expires_at <= ctx.clock.now():
                raise InvalidGrant(INVALID, reason="expired")
            if code.redirect_uri != redirect_uri:
                raise InvalidGrant("The redirect_uri does not match the authorization request.")
            if code.code_challenge is not None:
                if not verifier or not verifier_matches(verifier, code.code_challenge):
                    raise InvalidGrant("The code_verifier does not match the code_challenge.")
            elif verifier is not None:
                raise InvalidGrant("A code_verifier was sent for a code issued without PKCE.")

        with_refresh = has_scope(code.scope, "offline_access") or client.always_refresh
        grant = new_grant(
            request,
            ctx,
            user_id=code.user_id,
            scope=code.scope,
            with_refresh=with_refresh,
            auth_time=code.auth_time,
            auth_level=code.auth_level,
        )
        outcome = await ctx.store.exchange_code(hashed, grant)
        match outcome:
            case CodeExchanged(issued):
                return token_response(ctx.keys.ring, issued, client, ctx.issuer, nonce=code.nonce)
            case CodeReplayed():
                raise InvalidGrant(INVALID, reason="reuse_detected", detail="code replayed")
            case None:
                raise InvalidGrant(INVALID, reason="expired", detail="code expired meanwhile")
