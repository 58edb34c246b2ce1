"""Defaults for per-client token policy (CONTRACT.md: token endpoint)."""

from __future__ import annotations

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
# address. CONTRACT.md asks for at least 60 a minute with bursts of 32; keyed by
# grant rather than by token string so that rotation cannot reset the count,
# and so memory grows with active grants, not with refreshes.
REFRESH_TOKEN_RATE = 300

# Wire reasons on invalid_grant (CONTRACT.md), also stored as revoked_reason.
REVOKED_BY_USER = "revoked_by_user"
REVOKED_BY_CLIENT = "revoked_by_client"  # the client itself, RFC 7009
REVOKED_BY_ADMIN = "revoked_by_admin"
ENHANCED_SECURITY = "enhanced_security"
REUSE_DETECTED = "reuse_detected"
CLIENT_DISABLED = "client_disabled"
