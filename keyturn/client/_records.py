"""A stored token set and when to refresh it."""

from __future__ import annotations

import base64
import json
import math
import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from keyturn.client._redaction import masked_repr

MAX_MARGIN = 300.0  # refresh at most 5 minutes early
MARGIN_FRACTION = 0.1  # ... or a tenth of the lifetime, whichever is less
JITTER = 0.5  # up to 50% more margin, so a fleet does not refresh in lockstep
# Longer than any lifetime a server means: beyond it a value is garbage, not a date.
MAX_LIFETIME = 10 * 365 * 86400.0
# Some servers send expires_in as a string ("3600"). ASCII digits only: float()
# would also take "3_600", "nan", "1e400" and other scripts' digits.
_NUMERIC = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")


def _number(value: object) -> float | None:
    """A finite JSON number as a float; booleans, NaN, infinities and huge ints are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        return None
    return number if math.isfinite(number) else None


def _lifetime(seconds: float | None) -> float | None:
    """Seconds from now, if that is a lifetime we can schedule; None means unknown."""
    return seconds if seconds is not None and 0 < seconds <= MAX_LIFETIME else None


def _expires_in(value: object) -> float | None:
    if isinstance(value, str):
        return _lifetime(float(value)) if _NUMERIC.fullmatch(value) else None
    return _lifetime(_number(value))


def _jwt_exp(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only to schedule a refresh)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):  # the server's bytes: any of them may be garbage
        return None
    return _number(claims.get("exp")) if isinstance(claims, dict) else None


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

    def __repr__(self) -> str:
        # Records are logged and shown in tracebacks; each of these is a credential.
        return masked_repr(self, frozenset({"access_token", "refresh_token", "id_token"}))

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
        # An unusable lifetime is an unknown one, as if the server had sent none:
        # the token is then used until the resource server answers 401.
        expires_in = _expires_in(response.get("expires_in"))
        if expires_in is None:
            exp = _jwt_exp(access)
            expires_in = None if exp is None else _lifetime(exp - server_skew - now)
        expires_at = refresh_at = None
        if expires_in is not None:
            expires_at = now + expires_in
            margin = min(MAX_MARGIN, MARGIN_FRACTION * expires_in)
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
