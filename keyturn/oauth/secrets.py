"""Small, named security helpers: key derivation, secret hashing, comparison."""

from __future__ import annotations

import hashlib
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


class KeyedSha256:
    """HMAC-SHA256 under one fixed key.

    The keyed state is built once and copied per message, which costs half of
    `hmac.digest` (that one re-keys every call); the token endpoint computes
    four of these per refresh (measured in docs/benchmarks.md).
    """

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def digest(self, message: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(message)
        return mac.digest()


class SecretHasher:
    """Keyed hash for server-generated secrets: a stolen database alone yields nothing."""

    def __init__(self, key: bytes) -> None:
        self._mac = KeyedSha256(key)

    def hash(self, secret: str) -> bytes:
        return self._mac.digest(secret.encode("utf-8", "surrogatepass"))

    def verify(self, secret: str, expected: bytes) -> bool:
        return constant_equals(self.hash(secret), expected)
