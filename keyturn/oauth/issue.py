"""Build a token response (RFC 6749 §5.1) from a grant row.

The response is a pure function of the grant row, the client and the keyring,
which is what makes a retried refresh inside the grace window return the
identical response (docs/design.md).
"""

from __future__ import annotations

import time
from typing import Any

from keyturn.oauth.jwt_tokens import id_token, sign
from keyturn.oauth.keyring import Keyring
from keyturn.oauth.scope import has_scope
from keyturn.oauth.tokens import mint_access_token, mint_refresh_token
from keyturn.store.records import Client, Grant

TokenResponse = dict[str, Any]


_last_second: tuple[int, str] = (-1, "")


def iso_timestamp(at: float) -> str:
    """RFC 3339 in UTC with microseconds, e.g. 2026-11-22T10:00:00.123456Z."""
    global _last_second
    seconds = int(at)
    micros = round((at - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    # Responses come in bursts within one second; format its date and time once.
    if _last_second[0] != seconds:
        _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_last_second[1]}.{micros:06d}Z"


def access_token_for(keyring: Keyring, grant: Grant, client: Client, issuer: str) -> str:
    """The access token the grant last issued: opaque `kta_…`, or an RFC 9068 JWT if asked.

    That is the live one, or the one the client revoked since (RFC 7009), which
    a retried refresh must get back unchanged; it stays dead either way.
    """
    expires_at = int(grant.access_expires_at)
    generation = grant.issued_access_generation
    opaque = mint_access_token(keyring, grant.grant_id, generation, expires_at)
    if client.access_token_format != "jwt":
        return opaque
    claims = {
        "iss": issuer,
        "sub": grant.user_id or grant.client_id,
        "aud": issuer,
        "client_id": grant.client_id,
        "iat": int(grant.rotated_at),
        "exp": expires_at,
        "scope": grant.access_scope,
        # The opaque reference rides along as jti, so introspection, userinfo
        # and revocation treat both forms alike: dead once the grant moves on.
        "jti": opaque,
    }
    if grant.auth_time is not None:
        claims["auth_time"] = int(grant.auth_time)
    return sign(keyring, client.id_token_alg, claims, typ="at+jwt")


def token_response(
    keyring: Keyring, grant: Grant, client: Client, issuer: str, *, nonce: str | None = None
) -> TokenResponse:
    access_token = access_token_for(keyring, grant, client, issuer)
    response: TokenResponse = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": max(0, int(grant.access_expires_at) - int(grant.rotated_at)),
    }
    if grant.has_refresh:
        response["refresh_token"] = mint_refresh_token(
            keyring, grant.grant_id, grant.refresh_generation
        )
    response["scope"] = grant.access_scope
    response["created_at"] = iso_timestamp(grant.rotated_at)
    if grant.user_id is not None and has_scope(grant.scope, "openid"):
        # OIDC Core §12.2: on refresh, same iss/sub/aud/auth_time, a new iat, no nonce.
        response["id_token"] = id_token(
            keyring,
            alg=client.id_token_alg,
            issuer=issuer,
            subject=grant.user_id,
            client_id=grant.client_id,
            issued_at=int(grant.rotated_at),
            auth_time=grant.auth_time,
            access_token=access_token,
            nonce=nonce,
            auth_level=grant.auth_level,
        )
    return response
