"""Build a token response (RFC 6749 §5.1) from a grant row.

The response is a pure function of the grant row and the keyring, which is
what makes a retried refresh inside the grace window return the identical
response (DESIGN.md §3).
"""

from __future__ import annotations

import time
from typing import Any

from keyturn.oauth.keyring import Keyring
from keyturn.oauth.tokens import mint_access_token, mint_refresh_token
from keyturn.store.records import Grant

TokenResponse = dict[str, Any]


def iso_timestamp(at: float) -> str:
    """RFC 3339 in UTC with microseconds, e.g. 2026-11-22T10:00:00.123456Z."""
    seconds = int(at)
    micros = round((at - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{micros:06d}Z"


def token_response(keyring: Keyring, grant: Grant) -> TokenResponse:
    expires_at = int(grant.access_expires_at)
    response: TokenResponse = {
        "access_token": mint_access_token(
            keyring, grant.grant_id, grant.access_generation, expires_at
        ),
        "token_type": "bearer",
        "expires_in": max(0, expires_at - int(grant.rotated_at)),
    }
    if grant.has_refresh:
        response["refresh_token"] = mint_refresh_token(
            keyring, grant.grant_id, grant.refresh_generation
        )
    response["scope"] = grant.access_scope
    response["created_at"] = iso_timestamp(grant.rotated_at)
    return response
