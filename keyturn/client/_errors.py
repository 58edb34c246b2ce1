"""What the SDK raises."""

from __future__ import annotations


class ReauthorizationRequired(Exception):
    """The server refused the refresh for good (`invalid_grant`), or there are no tokens.

    The account's stored tokens have been cleared; send the person through the
    authorization flow again. `reason` is the server's `reason` member when it
    sent one (`reuse_detected`, `revoked_by_user`, `suspected_compromise`, or
    `policy_changed` when the client now requires a stronger sign-in, e.g. two-step
    verification: send the person through the flow again, asking for it), else its
    error code, or `no_tokens`.
    """

    def __init__(self, account: str, reason: str, description: str = "") -> None:
        super().__init__(f"account {account!r} must re-authorise ({reason}) {description}".strip())
        self.account = account
        self.reason = reason
        self.description = description


class TokenRefreshError(Exception):
    """A refresh failed for now (network, 5xx, repeated 429); the stored tokens are kept."""


class DiscoveryError(TokenRefreshError):
    """The issuer's metadata (RFC 8414) is unusable or names endpoints we will not trust.

    A discovered endpoint must share the issuer's origin (scheme, host and
    port): the client secret and refresh tokens go there. An endpoint on
    another origin can still be configured explicitly (`token_endpoint=` …).
    Being a `TokenRefreshError`, it keeps the stored tokens.
    """


class LockTimeout(TimeoutError):
    """Another process held the account's refresh lock for too long."""


class StoreDecryptionError(Exception):
    """A stored record cannot be opened with any configured encryption key."""
