"""Browser origins a client may be called from (CORS): `scheme://host[:port]`, exactly.

An origin is compared with a request's `Origin` header as a string, so it is
only accepted in the serialised form a browser sends (RFC 6454 §6.2, the WHATWG
URL standard's origin): lower-case scheme and host, no default port, no path,
no user name; anything a browser would rewrite is refused rather than guessed.
"""

from __future__ import annotations

from ada_url import URL

MAX_LENGTH = 300


def origin_problem(origin: str) -> str | None:
    """Why `origin` cannot be an allowed origin, or None when it can."""
    if not origin or len(origin) > MAX_LENGTH:
        return f"must be 1 to {MAX_LENGTH} characters"
    if not all("\x21" <= char <= "\x7e" for char in origin) or "\\" in origin:
        return "must be printable ASCII without spaces or backslashes"
    try:
        parsed = URL(origin)
    except ValueError:
        return "is not a valid absolute URL"
    if parsed.protocol not in ("http:", "https:"):
        return "must be an http or https origin"
    if parsed.username or parsed.password or "@" in origin:
        return "must not contain a user name or password"
    serialised = f"{parsed.protocol}//{parsed.host}"
    if origin != serialised:
        return f"must be an origin as a browser sends it: {serialised!r}"
    return None
