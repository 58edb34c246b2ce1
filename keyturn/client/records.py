"""A stored token set and when to refresh it."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import asdict, dataclass
from typing import Any

MAX_MARGIN = 300.0  # refresh at most 5 minutes early
MARGIN_FRACTION = 0.1  # ... or a tenth of the lifetime, whichever is less
JITTER = 0.5  # up to 50% more margin, so a fleet does not refresh in lockstep


def _jwt_exp(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only to schedule a refresh)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    access_token: str
    token_type: str
    expires_at: float | None
    refresh_at: float | None
    refresh_token: str | None
    scope: str | None
    id_token: str | None
    obtained_at: float

    @classmethod
    def from_response(
        cls,
        response: dict[str, Any],
        *,
        now: float,
        previous: TokenRecord | None = None,
        server_skew: float = 0.0,
    ) -> TokenRecord:
        """Expiry counts from when the response arrived (`now`), so clocks need not agree.

        Without `expires_in`, a JWT access token's `exp` (server time) is moved to
        local time with `server_skew` (the server's Date header minus our clock).
        """
        access = response.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("a token response needs an access_token")
        expires_in = response.get("expires_in")
        if not isinstance(expires_in, int | float) or expires_in <= 0:
            exp = _jwt_exp(access)
            expires_in = None if exp is None else exp - server_skew - now
        expires_at = refresh_at = None
        if expires_in is not None and expires_in > 0:
            expires_at = now + float(expires_in)
            margin = min(MAX_MARGIN, MARGIN_FRACTION * float(expires_in))
            refresh_at = expires_at - margin * (1 + JITTER * random.random())
        # RFC 6749 §6: a server that does not rotate leaves the refresh token out.
        refresh = response.get("refresh_token") or (previous.refresh_token if previous else None)
        return cls(
            access_token=access,
            token_type=str(response.get("token_type", "bearer")),
            expires_at=expires_at,
            refresh_at=refresh_at,
            refresh_token=refresh,
            scope=response.get("scope") or (previous.scope if previous else None),
            id_token=response.get("id_token") or (previous.id_token if previous else None),
            obtained_at=now,
        )

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def due(self, now: float) -> bool:
        return self.refresh_at is not None and now >= self.refresh_at

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> TokenRecord:
        return cls(**json.loads(raw))
