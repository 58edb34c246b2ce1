"""Defaults for per-client token policy."""

from __future__ import annotations

from keyturn.store.records import RevocationReason

ACCESS_TTL = 12 * 3600  # 12 hours
REFRESH_TTL = 20 * 365 * 24 * 3600  # 20 years, absolute cap of a grant's family
GRACE_SECONDS = 30  # retry window for a refresh whose response was lost
AUTHORIZATION_CODE_TTL = 60

DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
KNOWN_GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "registration_code",
)

# Rate limit: requests a minute for one refresh-token family (grant) from one
# address. Normal use needs at least 60 a minute with bursts of 32; keyed by
# grant rather than by token string so that rotation cannot reset the count,
# and so memory grows with active grants, not with refreshes.
REFRESH_TOKEN_RATE = 300

# Wire reasons on invalid_grant, also stored as a grant's revoked_reason.
REVOKED_BY_USER = RevocationReason.REVOKED_BY_USER
REVOKED_BY_CLIENT = RevocationReason.REVOKED_BY_CLIENT
REVOKED_BY_ADMIN = RevocationReason.REVOKED_BY_ADMIN
ENHANCED_SECURITY = RevocationReason.ENHANCED_SECURITY
REUSE_DETECTED = RevocationReason.REUSE_DETECTED
CLIENT_DISABLED = RevocationReason.CLIENT_DISABLED
