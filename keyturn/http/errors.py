"""Render errors in the protocol's own format: RFC 6749 §5.2 JSON, no-store."""

from __future__ import annotations

import logging
import time

from keyturn import logs
from keyturn.http.asgi import Response, json_response
from keyturn.oauth.errors import OAuthError, ServerError, TemporarilyUnavailable

log = logging.getLogger("keyturn.http")


class Outage:
    """One warning when the database stops answering and one when it is back, instead
    of a traceback per request (a failover would otherwise write thousands)."""

    def __init__(self) -> None:
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "the database is unavailable; answering 503 until it is back",
                extra={"fields": {"error": f"{type(exc.__cause__ or exc).__name__}: {exc}"}},
            )

    def served(self) -> None:
        if self.since is not None:
            seconds = time.monotonic() - self.since
            self.since = None
            log.warning(
                "the database is available again", extra={"fields": {"outage_s": round(seconds, 1)}}
            )


OUTAGE = Outage()


def oauth_error_response(error: OAuthError) -> Response:
    # Why, for the access log line (the description goes to the caller, the detail never).
    logs.outcome.set((error.code, error.detail))
    headers = error.headers
    if error.code in ("invalid_token", "insufficient_scope") and "WWW-Authenticate" not in headers:
        # RFC 6750 §3: a bearer-protected resource says why it refused.
        challenge = f'Bearer realm="keyturn", error="{error.code}"'
        headers = {**headers, "WWW-Authenticate": challenge}
    return json_response(error.body(), error.status, headers=headers)


def internal_error_response(exc: BaseException, *, unavailable: bool) -> Response:
    """Only internal failures get here: a bug is logged in full, an outage once."""
    if unavailable:
        OUTAGE.failed(exc)
    else:
        log.error("internal error", exc_info=exc)
    error: OAuthError = TemporarilyUnavailable() if unavailable else ServerError()
    if unavailable:
        error.headers["Retry-After"] = "1"
    return oauth_error_response(error)


def shutting_down_response() -> Response:
    """The answer to a request still unanswered when the shutdown timeout ran out: the
    client may retry (another instance, or this one restarted)."""
    error = TemporarilyUnavailable("The server is shutting down; retry the request.")
    error.headers["Retry-After"] = "1"
    return oauth_error_response(error)
