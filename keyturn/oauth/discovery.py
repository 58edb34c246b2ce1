"""Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0).

Derived from the issuer and the grant registry, never written by hand, and
checked at start-up.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from keyturn.oauth.grants.registry import grant_types_supported
from keyturn.oauth.keyring import SIGNING_ALGORITHMS

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def server_metadata(issuer: str) -> dict[str, Any]:
    base = issuer.rstrip("/")
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/oauth/jwks",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": grant_types_supported(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:2],
        "scopes_supported": ["openid", "offline_access", "email"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "email",
            "email_verified",
        ],
        "authorization_response_iss_parameter_supported": True,
    }
    check_metadata(metadata)
    return metadata


def check_metadata(metadata: dict[str, Any]) -> None:
    """RFC 8414 §2: the issuer is an https (or loopback http) URL without query or fragment."""
    issuer = urlsplit(metadata["issuer"])
    if issuer.scheme not in ("https", "http") or not issuer.netloc:
        raise ValueError(f"the issuer must be an absolute URL: {metadata['issuer']!r}")
    if issuer.query or issuer.fragment:
        raise ValueError("the issuer must not have a query or fragment")
    for name, value in metadata.items():
        if (name.endswith("_endpoint") or name == "jwks_uri") and not str(value).startswith(
            metadata["issuer"].rstrip("/")
        ):
            raise ValueError(f"{name} is not under the issuer")
