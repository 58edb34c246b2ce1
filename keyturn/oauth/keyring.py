"""The server's keyring: MAC keys (and later signing keys) with ids.

Key material is sealed with AES-GCM under a key derived from the master
secret, so the database alone holds nothing usable. Tokens name the key id
they were made with; a key keeps verifying until it is retired.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyturn.oauth.clock import Clock
from keyturn.store.base import Store

MAC_KIND = "mac"


class KeySealError(Exception):
    """Key material could not be unsealed: the master secret differs."""


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


@dataclass(frozen=True, slots=True)
class Keyring:
    mac_keys: dict[int, bytes]
    current_mac_kid: int

    @property
    def current_mac_key(self) -> bytes:
        return self.mac_keys[self.current_mac_kid]


async def load_keyring(store: Store, wrap_key: bytes, clock: Clock) -> Keyring:
    """Load live keys, creating the first MAC key on a fresh database."""
    stored = await store.list_keys()
    if not any(key.kind == MAC_KIND and key.retired_at is None for key in stored):
        await store.add_key(MAC_KIND, seal(wrap_key, MAC_KIND, os.urandom(32)), clock.now())
        stored = await store.list_keys()
    mac_keys = {
        key.kid: unseal(wrap_key, MAC_KIND, key.sealed)
        for key in stored
        if key.kind == MAC_KIND and key.retired_at is None
    }
    return Keyring(mac_keys=mac_keys, current_mac_kid=max(mac_keys))


async def rotate_mac_key(store: Store, wrap_key: bytes, clock: Clock) -> int:
    """Add a new current MAC key; older keys keep verifying until retired."""
    return await store.add_key(MAC_KIND, seal(wrap_key, MAC_KIND, os.urandom(32)), clock.now())
