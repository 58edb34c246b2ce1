"""Where the server's endpoints are: explicit, or discovered from the issuer (RFC 8414)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from keyturn.client.errors import TokenRefreshError

WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@dataclass(frozen=True, slots=True)
class Endpoints:
    token: str
    revocation: str | None = None
    authorization: str | None = None
    issuer: str | None = None


async def discover(http: httpx.AsyncClient, issuer: str) -> Endpoints:
    base = issuer.rstrip("/")
    for path in WELL_KNOWN:
        try:
            response = await http.get(base + path)
        except httpx.TransportError as exc:
            raise TokenRefreshError(f"discovery at {base}{path} failed: {exc}") from exc
        if response.status_code != 200:
            continue
        metadata = response.json()
        if metadata.get("issuer", "").rstrip("/") != base:
            raise TokenRefreshError(f"{base}{path} names another issuer: {metadata.get('issuer')}")
        return Endpoints(
            token=metadata["token_endpoint"],
            revocation=metadata.get("revocation_endpoint"),
            authorization=metadata.get("authorization_endpoint"),
            issuer=metadata["issuer"],
        )
    raise TokenRefreshError(f"no authorization server metadata under {base}")
