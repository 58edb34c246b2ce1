"""Plain records the store returns and the protocol core works on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from keyturn.store.networks import network_of


class EventKind(StrEnum):
    """What an event records; the value is what `keyturn events` and the API show."""

    REFRESH_TOKEN_REUSE = "refresh_token_reuse"
    AUTHORIZATION_CODE_REUSE = "authorization_code_reuse"
    GRANT_REVOKED = "grant_revoked"
    GRANTS_REVOKED = "grants_revoked"
    CLIENT_CREATED = "client_created"
    CLIENT_SECRET_ROTATED = "client_secret_rotated"
    CLIENT_DISABLED = "client_disabled"
    CLIENT_ENABLED = "client_enabled"
    CLIENT_UPDATED = "client_updated"
    CLIENT_DELETED = "client_deleted"
    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_DELETED = "user_deleted"
    ACCOUNT_CLAIMED = "account_claimed"
    ENHANCED_SECURITY = "enhanced_security"
    PASSWORD_CHANGED = "password_changed"
    SIGN_IN_SUCCEEDED = "sign_in_succeeded"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_THROTTLED = "sign_in_throttled"
    CLIENT_AUTH_FAILED = "client_auth_failed"
    # Anomaly signals (keyturn.oauth.signals).
    REFRESH_NETWORK_CHANGED = "refresh_network_changed"
    REFRESH_STORM = "refresh_storm"
    DORMANT_GRANT_USED = "dormant_grant_used"
    TOKEN_SCAN = "token_scan"
    SUSPECTED_COMPROMISE = "suspected_compromise"
    MFA_ENROLLED = "mfa_enrolled"
    MFA_REMOVED = "mfa_removed"
    WEBHOOK_CREATED = "webhook_created"
    WEBHOOK_DELETED = "webhook_deleted"
    KEY_RETIRED = "key_retired"
    KEYS_ROTATED = "keys_rotated"


class RevocationReason(StrEnum):
    """Why a grant stopped working: stored with it, and the `reason` of `invalid_grant`."""

    REVOKED_BY_USER = "revoked_by_user"
    REVOKED_BY_CLIENT = "revoked_by_client"  # the client itself, RFC 7009
    REVOKED_BY_ADMIN = "revoked_by_admin"
    ENHANCED_SECURITY = "enhanced_security"
    REUSE_DETECTED = "reuse_detected"
    CLIENT_DISABLED = "client_disabled"
    CLIENT_DELETED = "client_deleted"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_DELETED = "account_deleted"
    POLICY_CHANGED = "policy_changed"  # the client now needs a stronger sign-in
    SUSPECTED_COMPROMISE = "suspected_compromise"  # a signal's action was revoke


# Who acts: the operator's command line; a client or a user is `client:<id>` / `user:<id>`.
CLI_ACTOR = "cli"


def client_actor(client_id: str) -> str:
    return f"client:{client_id}"


def user_actor(user_id: str) -> str:
    return f"user:{user_id}"


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    secret_hash: bytes | None
    redirect_uris: tuple[str, ...]
    scope: str
    grant_types: tuple[str, ...]
    access_ttl: int
    refresh_ttl: int
    rotation: bool
    grace_seconds: int
    idle_ttl: int | None
    always_refresh: bool
    disabled: bool
    created_at: float
    # Optional per-client rate limit for the token endpoint (requests a minute).
    rate_limit: int | None = None
    id_token_alg: str = "RS256"
    access_token_format: str = "opaque"  # or "jwt" (RFC 9068)
    # May ask for the keyturn:admin:* scopes, which the admin API requires.
    admin: bool = False
    # Browser origins (scheme://host[:port]) that get CORS answers.
    allowed_origins: tuple[str, ...] = ()
    # Authorization requests need a sign-in with a second factor.
    require_mfa: bool = False

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    password_hash: str | None
    owner_client_id: str | None
    registration_code_hash: str | None
    claimed_at: float | None
    enhanced_security: bool
    created_at: float
    # Cannot sign in; every grant was revoked when it was disabled.
    disabled: bool = False
    # The authenticator-app secret (sealed) once two-step verification is on, and how
    # many recovery codes are still unused.
    totp_sealed: bytes | None = None
    recovery_codes_left: int = 0

    @property
    def two_step(self) -> bool:
        return self.totp_sealed is not None


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """A right two-step code, as the store must use it up: a TOTP step (accepted if
    later than the last one accepted) or a recovery code's hash (if still unused)."""

    totp_step: int | None = None
    recovery_hash: bytes | None = None


# A grant id is 16 random bytes; the store keeps it as a uuid.
GRANT_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class Grant:
    """One authorisation: the family of every token issued from it (docs/design.md)."""

    grant_id: bytes
    client_id: str
    user_id: str | None
    scope: str
    access_scope: str
    auth_time: float | None
    created_at: float
    expires_at: float
    refresh_generation: int
    access_generation: int
    access_expires_at: float
    rotated_at: float
    last_used_at: float
    last_ip: str | None
    revoked_at: float | None
    revoked_reason: str | None
    has_refresh: bool
    # The access generation an RFC 7009 revocation retired last (None: never).
    revoked_access_generation: int | None = None
    # For the anomaly signals: the address and time of the use before this one, set
    # only on the grant a refresh returns (from the row it replaced); they say what
    # the refresh changed, not what the grant is, so equality ignores them.
    prev_ip: str | None = field(default=None, compare=False)
    prev_used_at: float | None = field(default=None, compare=False)
    # Refreshes in the current window of one access-token lifetime.
    window_count: int = 0
    # How strongly the user signed in: 1 password, 2 password and a second factor.
    auth_level: int = 1

    @property
    def network(self) -> str | None:
        """The network (/24, /48) of the latest use."""
        return network_of(self.last_ip)

    @property
    def prev_network(self) -> str | None:
        """The network of the use before it (None on a grant no refresh returned)."""
        return network_of(self.prev_ip)

    @property
    def issued_access_generation(self) -> int:
        """The generation of the access token the grant's latest issue handed out.

        Revoking that token moves `access_generation` one on (so it is dead
        everywhere) and records the generation it retired. Until the row moves
        again, the token the refresh issued is the revoked one, and a retry
        inside the grace window must get exactly it back.
        """
        revoked = self.revoked_access_generation
        if revoked is not None and self.access_generation == revoked + 1:
            return revoked
        return self.access_generation


@dataclass(frozen=True, slots=True)
class NewGrant:
    grant_id: bytes
    client_id: str
    user_id: str | None
    scope: str
    auth_time: float | None
    created_at: float
    expires_at: float
    access_expires_at: float
    has_refresh: bool
    ip: str | None
    auth_level: int = 1


@dataclass(frozen=True, slots=True)
class Event:
    event_id: int
    at: float
    kind: str
    client_id: str | None
    user_id: str | None
    grant_id: bytes | None
    ip: str | None
    detail: dict[str, object] = field(default_factory=dict)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    url: str
    kinds: tuple[str, ...]  # empty: every kind
    sealed_secret: bytes
    created_at: float

    def wants(self, event: Event) -> bool:
        return event.at >= self.created_at and (not self.kinds or event.kind in self.kinds)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one receiver: a webhook, or a person by email."""

    delivery_id: int
    channel: str  # "webhook" or "email"
    target: str  # the webhook id, or the user id
    event_id: int
    payload: str  # the event as JSON, fixed when it was fanned out
    state: str  # "pending", "delivered" or "dead"
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    channel: str
    target: str
    payload: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record in the same transaction as the change it describes."""

    kind: EventKind
    actor: str | None = None
    client_id: str | None = None
    user_id: str | None = None
    grant_id: bytes | None = None
    ip: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: int
    kind: str
    sealed: bytes
    created_at: float
    retired_at: float | None


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """RFC 6749 §4.1.2: single use, short-lived, bound to client, redirect URI and PKCE."""

    code_hash: bytes
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    nonce: str | None
    auth_time: float
    expires_at: float
    used_at: float | None = None
    grant_id: bytes | None = None
    auth_level: int = 1


@dataclass(frozen=True, slots=True)
class Session:
    session_hash: bytes
    user_id: str
    auth_time: float
    expires_at: float
    auth_level: int = 1


@dataclass(frozen=True, slots=True)
class CodeExchanged:
    grant: Grant


@dataclass(frozen=True, slots=True)
class CodeReplayed:
    """The code was used before; the grant it produced is now revoked."""

    grant_id: bytes | None


CodeOutcome = CodeExchanged | CodeReplayed | None


# Outcomes of a refresh attempt (store method `advance_refresh`).


@dataclass(frozen=True, slots=True)
class RefreshAttempt:
    grant_id: bytes
    client_id: str
    generation: int
    now: float
    rotate: bool
    access_scope: str | None
    access_ttl: int
    idle_cutoff: float
    grace_cutoff: float
    ip: str | None
    # The client's policy: grants issued below it no longer refresh (policy_changed).
    min_auth_level: int = 1


@dataclass(frozen=True, slots=True)
class Advanced:
    grant: Grant


@dataclass(frozen=True, slots=True)
class Replayed:
    """The immediately previous token, inside the grace window, successor unused."""

    grant: Grant


@dataclass(frozen=True, slots=True)
class ReuseDetected:
    """An older generation was presented; the grant is now revoked."""

    grant: Grant


@dataclass(frozen=True, slots=True)
class Rejected:
    """The grant exists but cannot be refreshed; `reason` is the wire reason."""

    reason: str
    grant: Grant


@dataclass(frozen=True, slots=True)
class NotFound:
    pass


RefreshOutcome = Advanced | Replayed | ReuseDetected | Rejected | NotFound


@dataclass(frozen=True, slots=True)
class Purged:
    """One bounded purge call: rows deleted per table, and where each scan stopped.

    Every purge scan walks an index in key order (expiry, revocation or finish
    time). `resume` holds the largest key each scan deleted; the next call starts
    there, so it does not step again over the index entries of rows just deleted
    (they stay in the index until a vacuum) and a long purge does not slow down
    batch by batch.
    """

    deleted: dict[str, int]
    resume: dict[str, float]
