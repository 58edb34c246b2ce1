"""Which redirect URIs a client may use (RFC 6749 §3.1.2, RFC 9700 §4.1.3, RFC 8252 §7.3).

A redirect URI is compared as a string with the ones registered, never after
parsing it: two parsers that disagree about where the host ends are how codes
get stolen (`http://evil.example\\@127.0.0.1/` is 127.0.0.1 to Python's urlsplit
and evil.example to a browser). To make the string comparison mean what a
browser will do, a URI is only acceptable — at registration and in a request —
when it is already in the canonical form of the WHATWG URL standard that
browsers implement: parsing it changes nothing, so the browser navigates to
exactly the string that was compared. That rules out backslashes, whitespace,
control characters, percent-encoded or upper-case hosts, userinfo and fragments
without a list of tricks to keep up to date.

The one exception to exact matching is RFC 8252 §7.3: a native application
registered with `http://127.0.0.1/…` or `http://[::1]/…` may insert any port,
because the operating system picks a free one each time. Only a decimal port
is inserted, right after the host, and the rest must match to the letter. It
holds for public clients only: a confidential client is a web server with a
fixed address, and the rule would only widen what a leaked secret reaches.
"""

from __future__ import annotations

from ada_url import URL

from keyturn.store.records import Client

MAX_LENGTH = 2000
LOOPBACK_PREFIXES = ("http://127.0.0.1", "http://[::1]")
# Schemes a browser runs or reads locally instead of navigating to a server.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about"})
MAX_PORT = 65535


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI, or None when it can."""
    if not uri or len(uri) > MAX_LENGTH:
        return f"must be 1 to {MAX_LENGTH} characters"
    if not all("\x21" <= char <= "\x7e" for char in uri) or "\\" in uri:
        return "must be printable ASCII without spaces or backslashes"
    if "#" in uri:
        return "must not have a fragment"
    try:
        parsed = URL(uri)
    except ValueError:
        return "is not a valid absolute URL"
    if parsed.protocol.rstrip(":") in FORBIDDEN_SCHEMES:
        return f"must not use the {parsed.protocol} scheme"
    if parsed.username or parsed.password or "@" in parsed.host:
        return "must not contain a user name or password"
    if parsed.protocol in ("http:", "https:") and not parsed.hostname:
        return "needs a host"
    if parsed.href != uri:
        return f"must be written as a browser reads it: {parsed.href!r}"
    return None


def loopback_with_port(registered: str, uri: str) -> bool:
    """Is `uri` the registered loopback URI with a decimal port from 1 to 65535 inserted?"""
    for prefix in LOOPBACK_PREFIXES:
        rest = registered.removeprefix(prefix)
        if rest == registered or not rest.startswith("/"):
            continue
        if not uri.startswith(prefix + ":") or not uri.endswith(rest):
            continue
        port = uri[len(prefix) + 1 : len(uri) - len(rest)]
        if port.isdigit() and port.isascii() and port[0] != "0" and int(port) <= MAX_PORT:
            return True
    return False


def redirect_uri_allowed(client: Client, uri: str) -> bool:
    if redirect_uri_problem(uri) is not None:
        return False
    if uri in client.redirect_uris:
        return True
    return client.is_public and any(
        loopback_with_port(registered, uri) for registered in client.redirect_uris
    )
