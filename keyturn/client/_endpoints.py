"""Where the server's endpoints are: explicit, or discovered from the issuer (RFC 8414)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from keyturn.client._errors import DiscoveryError, TokenRefreshError

WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Endpoints:
    token: str
    revocation: str | None = None
    authorization: str | None = None
    issuer: str | None = None


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) as httpx will connect, or None for a URL we would not use.

    Parsed by httpx itself, so the check and the request cannot disagree about
    the host (`https://issuer@evil/`, `https://evil#@issuer/`).
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        return None
    return parsed.scheme, parsed.host, parsed.port or DEFAULT_PORTS[parsed.scheme]


def _endpoint(
    metadata: dict[str, Any], member: str, issuer_origin: tuple[str, str, int]
) -> str | None:
    """A discovered endpoint, refused unless it is on the issuer's origin.

    We send the client secret and refresh tokens there (token, revocation) or
    the person signing in (authorization): the issuer vouches for its own
    origin only.
    """
    value = metadata.get(member)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DiscoveryError(f"the metadata's {member} is not a URL: {value!r}")
    if origin(value) != issuer_origin:
        raise DiscoveryError(
            f"the metadata's {member} {value!r} is not on the issuer's origin; "
            f"configure it explicitly ({member}=…) if it is really meant"
        )
    # httpx turns credentials in a URL into Basic auth, replacing our client's.
    if httpx.URL(value).userinfo:
        raise DiscoveryError(f"the metadata's {member} carries credentials: {value!r}")
    return value


def _endpoints(metadata: object, issuer: str, where: str) -> Endpoints:
    if not isinstance(metadata, dict):
        raise DiscoveryError(f"{where} is not a JSON object")
    # RFC 8414 §3.3: the document must name the issuer we asked, or it is another's.
    named = metadata.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError(f"{where} names another issuer: {named!r}")
    issuer_origin = origin(issuer)
    if issuer_origin is None:
        raise DiscoveryError(f"the issuer {issuer!r} is not an http(s) URL")
    token = _endpoint(metadata, "token_endpoint", issuer_origin)
    if token is None:
        raise DiscoveryError(f"{where} names no token_endpoint")
    return Endpoints(
        token=token,
        revocation=_endpoint(metadata, "revocation_endpoint", issuer_origin),
        authorization=_endpoint(metadata, "authorization_endpoint", issuer_origin),
        issuer=named,
    )


async def discover(http: httpx.AsyncClient, issuer: str) -> Endpoints:
    base = issuer.rstrip("/")
    for path in WELL_KNOWN:
        try:
            response = await http.get(base + path)
        except httpx.TransportError as exc:
            raise TokenRefreshError(f"discovery at {base}{path} failed: {exc}") from exc
        if response.status_code != 200:
            continue
        try:
            metadata = response.json()
        except ValueError:
            raise DiscoveryError(f"{base}{path} is not JSON") from None
        return _endpoints(metadata, base, f"{base}{path}")
    raise TokenRefreshError(f"no authorization server metadata under {base}")
