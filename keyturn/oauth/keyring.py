"""The server's keyring: MAC keys for tokens and signing keys for JWTs, with ids.

Key material is sealed with AES-GCM under a key derived from the master
secret, so the database alone holds nothing usable. Tokens name the key id
they were made with; a key keeps verifying until it is retired, and JWKS
publishes every signing key that is not retired, so rotation never breaks a
token in flight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyturn.oauth.clock import Clock
from keyturn.store.base import Store
from keyturn.store.records import NewEvent

MAC_KIND = "mac"
# JWS algorithms for ID tokens and JWT access tokens; RS256 is the default.
SIGNING_ALGORITHMS = ("RS256", "ES256", "EdDSA")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class KeyringError(Exception):
    """The server keys cannot be used; the message says why in one line."""


class KeySealError(KeyringError):
    """Key material could not be unsealed: the master secret differs."""


class MissingKeys(KeyringError):
    """A database without server keys, opened by a command that may not create them."""


def seal(wrap_key: bytes, kind: str, material: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(wrap_key).encrypt(nonce, material, kind.encode())


def unseal(wrap_key: bytes, kind: str, sealed: bytes) -> bytes:
    try:
        return AESGCM(wrap_key).decrypt(sealed[:12], sealed[12:], kind.encode())
    except InvalidTag as exc:
        raise KeySealError(
            "cannot unseal a server key: KEYTURN_SECRET_KEY differs from the one that made it"
        ) from exc


def _new_material(kind: str) -> bytes:
    if kind == MAC_KIND:
        return os.urandom(32)
    private: PrivateKey
    if kind == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif kind == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unknown key kind {kind!r}")
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        jwk: dict[str, Any]
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass(frozen=True, slots=True)
class Keyring:
    mac_keys: dict[int, bytes]
    current_mac_kid: int
    # Every live signing key, and the newest one per algorithm for signing.
    signing_keys: tuple[SigningKey, ...] = ()
    current_signing: dict[str, SigningKey] = field(default_factory=dict)

    @property
    def current_mac_key(self) -> bytes:
        return self.mac_keys[self.current_mac_kid]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.signing_keys]}

    def verification_key(self, kid: str) -> SigningKey | None:
        return next((key for key in self.signing_keys if key.kid == kid), None)


async def load_keyring(
    store: Store, wrap_key: bytes, clock: Clock, *, create: bool = True
) -> Keyring:
    """Load live keys; with `create`, make the first key of each kind on a fresh database."""
    stored = await store.list_keys()
    live_kinds = {key.kind for key in stored if key.retired_at is None}
    missing = [kind for kind in (MAC_KIND, *SIGNING_ALGORITHMS) if kind not in live_kinds]
    if missing and not create:
        raise MissingKeys(
            f"the database has no live {', '.join(missing)} key; `keyturn migrate` creates them"
        )
    for kind in missing:
        await store.add_key(kind, seal(wrap_key, kind, _new_material(kind)), clock.now())
    if missing:
        stored = await store.list_keys()
    live = [key for key in stored if key.retired_at is None]
    mac_keys = {
        key.kid: unseal(wrap_key, MAC_KIND, key.sealed) for key in live if key.kind == MAC_KIND
    }
    signing: list[SigningKey] = []
    for key in live:
        if key.kind in SIGNING_ALGORITHMS:
            pem = unseal(wrap_key, key.kind, key.sealed)
            private = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(
                private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
            )
            signing.append(SigningKey(kid=f"k{key.kid}", alg=key.kind, private=private))
    current = {key.alg: key for key in signing}  # list_keys is ordered by kid: newest wins
    return Keyring(
        mac_keys=mac_keys,
        current_mac_kid=max(mac_keys),
        signing_keys=tuple(signing),
        current_signing=current,
    )


async def rotate_keys(
    store: Store, wrap_key: bytes, clock: Clock, event: NewEvent | None = None
) -> list[int]:
    """Add a new current key of every kind at once; older keys verify until retired."""
    kinds = (MAC_KIND, *SIGNING_ALGORITHMS)
    sealed = [(kind, seal(wrap_key, kind, _new_material(kind))) for kind in kinds]
    return await store.add_keys(sealed, clock.now(), event)
