"""CORS for browser applications: the origins clients registered, on the endpoints a
single-page application calls (token, revocation, userinfo, discovery, keys).

An origin gets `Access-Control-Allow-Origin` (itself, never `*`) only when some
client lists it in `allowed_origins`, compared as the exact string a browser
sends; any other origin gets no CORS header at all, so the browser keeps the
answer from the page. No cookies are involved (`Allow-Credentials` is never
sent): these endpoints authenticate clients and tokens, not browser sessions.

The set of origins is read from the clients and read again when an unknown
origin shows up, at most once a second per process, so a new client's origin
works at once and a flood of made-up origins costs little.
"""

from __future__ import annotations

import time

from keyturn.http.asgi import Response
from keyturn.store.base import Store

CORS_PATHS = frozenset(
    {
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/userinfo",
        "/oauth/jwks",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    }
)
RELOAD_AT_MOST_EVERY = 1.0
PREFLIGHT_MAX_AGE = "600"
EXPOSED_HEADERS = b"X-Request-Id, Retry-After, WWW-Authenticate"


class AllowedOrigins:
    def __init__(self) -> None:
        self._origins: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    async def allows(self, store: Store, origin: str) -> bool:
        if origin in self._origins:
            return True
        if time.monotonic() - self._loaded_at >= RELOAD_AT_MOST_EVERY:
            await self.reload(store)
        return origin in self._origins

    async def reload(self, store: Store) -> None:
        self._loaded_at = time.monotonic()
        clients = await store.list_clients()
        self._origins = frozenset(
            origin for client in clients if not client.disabled for origin in client.allowed_origins
        )


def preflight(origin: str | None, allowed: bool) -> Response:
    """The answer to `OPTIONS`: the CORS headers for an allowed origin, none otherwise."""
    response = Response(204, b"", [(b"vary", b"Origin")])
    if origin is not None and allowed:
        response.headers += [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-methods", b"GET, POST"),
            # X-Request-Id: an application may tag its calls, as any caller may.
            (b"access-control-allow-headers", b"Authorization, Content-Type, X-Request-Id"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
        ]
    return response


def allow(response: Response, origin: str) -> Response:
    """A copy with the CORS headers: some answers (discovery) are shared objects."""
    headers = [*response.headers, (b"access-control-allow-origin", origin.encode())]
    # Beyond the safelisted headers, what a page needs to read: the id to quote in a
    # report, how long to wait, and why a bearer token was refused.
    headers.append((b"access-control-expose-headers", EXPOSED_HEADERS))
    headers.append((b"vary", b"Origin"))
    return Response(response.status, response.body, headers)
