"""OAuth errors typed by their wire code (RFC 6749 §5.2, RFC 7009, RFC 6750).

`description` is safe to send to the caller and stays within the RFC's allowed
characters; `detail` is for the log only.
"""

from __future__ import annotations

from typing import ClassVar

# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_ALLOWED = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch in _ALLOWED)


class OAuthError(Exception):
    code: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500
    default_description: ClassVar[str] = "The server could not handle the request."

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str = "",
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.description = _clean(description or self.default_description)
        self.detail = detail
        self.reason = reason
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.description} {detail}".strip())

    def body(self) -> dict[str, str]:
        payload = {"error": self.code, "error_description": self.description}
        if self.reason is not None:
            payload["reason"] = self.reason
        return payload


class InvalidRequest(OAuthError):
    code = "invalid_request"
    status = 400
    default_description = "The request is missing a parameter or is malformed."


class InvalidClient(OAuthError):
    code = "invalid_client"
    status = 401
    default_description = "Client authentication failed."


class InvalidGrant(OAuthError):
    """Every invalid_grant carries a machine-readable `reason`: theft told apart from expiry."""

    code = "invalid_grant"
    status = 400
    default_description = "The provided grant is invalid, expired or revoked."

    def __init__(
        self, description: str | None = None, *, reason: str = "unknown", detail: str = ""
    ) -> None:
        super().__init__(description, detail=detail, reason=reason)


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"
    status = 400
    default_description = "The client is not allowed to use this grant type."


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"
    status = 400
    default_description = "The grant type is not supported."


class InvalidScope(OAuthError):
    code = "invalid_scope"
    status = 400
    default_description = "The requested scope is invalid or exceeds what was granted."


class InvalidToken(OAuthError):
    """RFC 6750 §3.1, for bearer-protected resources."""

    code = "invalid_token"
    status = 401
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(OAuthError):
    code = "insufficient_scope"
    status = 403
    default_description = "The access token does not allow this request."


class AccessDenied(OAuthError):
    code = "access_denied"
    status = 403
    default_description = "The resource owner or server denied the request."


class SlowDown(OAuthError):
    """Rate limited; the HTTP layer answers 429 with Retry-After."""

    code = "slow_down"
    status = 429
    default_description = "Too many requests; retry later."

    def __init__(self, retry_after: int, *, detail: str = "") -> None:
        super().__init__(detail=detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServerError(OAuthError):
    code = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    code = "temporarily_unavailable"
    status = 503
    default_description = "The service is temporarily unavailable; retry later."
