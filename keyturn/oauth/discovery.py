"""Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0).

Never written by hand: the endpoints come from the HTTP route table, every
`*_supported` list from the set the code itself checks against (the grant
registry, the prompts the authorization endpoint accepts, the client
authentication methods, …), so the document cannot drift from behaviour.
Checked at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from keyturn.oauth.authorize import PROMPTS, RESPONSE_TYPES
from keyturn.oauth.client_auth import CLIENT_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from keyturn.oauth.grants.registry import grant_types_supported
from keyturn.oauth.keyring import SIGNING_ALGORITHMS
from keyturn.oauth.levels import ACR_VALUES_SUPPORTED
from keyturn.oauth.pkce import CHALLENGE_METHODS
from keyturn.oauth.scope import STANDARD_SCOPES

# What ID tokens (jwt_tokens.id_token) and UserInfo (the email scope) may carry.
CLAIMS_SUPPORTED = (
    "sub",
    "acr",
    "amr",
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
)

# Endpoint metadata names the route table must provide (RFC 8414 §2, OIDC Discovery §3).
REQUIRED_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
)


def server_metadata(issuer: str, endpoints: Mapping[str, str]) -> dict[str, Any]:
    """`endpoints` maps a metadata name (`token_endpoint`, …) to its path."""
    missing = set(REQUIRED_ENDPOINTS) - set(endpoints)
    if missing:
        raise ValueError(f"no route for {sorted(missing)}")
    base = issuer.rstrip("/")
    metadata: dict[str, Any] = {"issuer": issuer}
    metadata.update({name: f"{base}{path}" for name, path in sorted(endpoints.items())})
    metadata.update(
        {
            "grant_types_supported": grant_types_supported(),
            "response_types_supported": sorted(RESPONSE_TYPES),
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
            "code_challenge_methods_supported": list(CHALLENGE_METHODS),
            "prompt_values_supported": sorted(PROMPTS),
            "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_AUTH_METHODS),
            "scopes_supported": list(STANDARD_SCOPES),
            "claims_supported": list(CLAIMS_SUPPORTED),
            "acr_values_supported": list(ACR_VALUES_SUPPORTED),
            "authorization_response_iss_parameter_supported": True,
        }
    )
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
