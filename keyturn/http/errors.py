"""Render errors in the protocol's own format: RFC 6749 §5.2 JSON, no-store."""

from __future__ import annotations

import logging

from keyturn.http.asgi import Response, json_response
from keyturn.oauth.errors import OAuthError, ServerError, TemporarilyUnavailable

log = logging.getLogger("keyturn.http")


def oauth_error_response(error: OAuthError) -> Response:
    if error.detail:
        log.info("%s %s (%s)", error.code, error.description, error.detail)
    headers = error.headers
    if error.code in ("invalid_token", "insufficient_scope") and "WWW-Authenticate" not in headers:
        # RFC 6750 §3: a bearer-protected resource says why it refused.
        challenge = f'Bearer realm="keyturn", error="{error.code}"'
        headers = {**headers, "WWW-Authenticate": challenge}
    return json_response(error.body(), error.status, headers=headers)


def internal_error_response(exc: BaseException, *, unavailable: bool) -> Response:
    """Only internal failures get here: log in full, answer without detail."""
    log.error("internal error", exc_info=exc)
    error: OAuthError = TemporarilyUnavailable() if unavailable else ServerError()
    if unavailable:
        error.headers["Retry-After"] = "1"
    return oauth_error_response(error)
