"""The authorization-code flow's client half: PKCE (RFC 7636), state and nonce."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from keyturn.client._errors import ReauthorizationRequired
from keyturn.client._redaction import masked_repr

DEFAULT_SCOPE = "openid offline_access"


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """What to remember between sending the person away and their return."""

    url: str
    state: str
    code_verifier: str
    nonce: str
    redirect_uri: str

    def __repr__(self) -> str:
        # The verifier is what makes a stolen code useless (RFC 7636); state and
        # nonce are in the URL anyway.
        return masked_repr(self, frozenset({"code_verifier"}))


def s256(verifier: str) -> str:
    """The S256 code challenge (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def start_authorization(
    authorization_endpoint: str | None,
    client_id: str,
    redirect_uri: str,
    scope: str,
    extra: dict[str, str],
) -> AuthorizationStart:
    """A fresh state, verifier and nonce, and the URL that carries them."""
    if authorization_endpoint is None:
        raise ValueError("the server publishes no authorization_endpoint")
    state = secrets.token_urlsafe(16)
    code_verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": s256(code_verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    url = f"{authorization_endpoint}?{urlencode(params)}"
    return AuthorizationStart(url, state, code_verifier, nonce, redirect_uri)


def code_exchange_form(
    account: str, start: AuthorizationStart, callback_params: dict[str, str]
) -> dict[str, str]:
    """The token request for the redirect's answer, once it is ours and not an error."""
    if not secrets.compare_digest(callback_params.get("state", ""), start.state):
        raise ValueError("the state does not match: not the request we started")
    if "error" in callback_params:
        raise ReauthorizationRequired(
            account, callback_params["error"], callback_params.get("error_description", "")
        )
    return {
        "grant_type": "authorization_code",
        "code": callback_params.get("code", ""),
        "redirect_uri": start.redirect_uri,
        "code_verifier": start.code_verifier,
    }
