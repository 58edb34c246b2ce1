"""Small, named security helpers: key derivation, secret hashing, comparison."""

from __future__ import annotations

import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_LENGTH = 32


def derive_key(master_secret: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from the master secret (RFC 5869)."""
    if len(master_secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the secret key must be at least {MIN_SECRET_LENGTH} characters")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"keyturn", info=purpose.encode())
    return hkdf.derive(master_secret.encode())


def constant_equals(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def new_client_secret() -> str:
    # 256 bits from the OS: high-entropy enough that a fast keyed hash is a
    # safe way to store it (no bcrypt on the token endpoint's hot path).
    return secrets.token_urlsafe(32)


class SecretHasher:
    """Keyed hash for server-generated secrets: a stolen database alone yields nothing."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def hash(self, secret: str) -> bytes:
        return hmac.digest(self._key, secret.encode("utf-8", "surrogatepass"), "sha256")

    def verify(self, secret: str, expected: bytes) -> bool:
        return constant_equals(self.hash(secret), expected)
