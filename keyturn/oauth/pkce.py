"""PKCE (RFC 7636), S256 only: `plain` offers no protection against a stolen code."""

from __future__ import annotations

import base64
import hashlib
import re

from keyturn.oauth.secrets import constant_equals

CHALLENGE_METHODS = ("S256",)

# §4.1: 43 to 128 unreserved characters; the S256 challenge is 43 base64url characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE.fullmatch(challenge))


def verifier_matches(verifier: str, challenge: str) -> bool:
    if not _VERIFIER.fullmatch(verifier):
        return False
    return constant_equals(s256(verifier).encode(), challenge.encode())
