"""A stored token set and when to refresh it."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from typing import Any

MAX_MARGIN = 300.0  # refresh at most 5 minutes early
MARGIN_FRACTION = 0.1  # ... or a tenth of the lifetime, whichever is less
JITTER = 0.5  # up to 50% more margin, so a fleet does not refresh in lockstep


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
        cls, response: dict[str, Any], *, now: float, previous: TokenRecord | None = None
    ) -> TokenRecord:
        """Expiry counts from when the response arrived (`now`), so clocks need not agree."""
        access = response.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("a token response needs an access_token")
        expires_in = response.get("expires_in")
        expires_at = refresh_at = None
        if isinstance(expires_in, int | float) and expires_in > 0:
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
