"""AES-GCM sealing of token records, with a keyring for rotation.

Each record is `version | key id | nonce | ciphertext` and binds the account
key as associated data, so a record copied to another account fails to open.
There is no plaintext fallback: without a key, nothing is stored.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyturn.client._errors import StoreDecryptionError

VERSION = 1
MIN_KEY_LENGTH = 32


def _derive(secret: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"keyturn-client", info=b"token store v1"
    )
    return hkdf.derive(secret.encode())


class Sealer:
    """Seals with the newest key; opens with any key of the ring."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("encryption_keys needs at least one key")
        for key in keys:
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"each encryption key must be at least {MIN_KEY_LENGTH} characters"
                )
        derived = [_derive(key) for key in keys]
        self._ring = {hashlib.sha256(key).digest()[:4]: AESGCM(key) for key in derived}
        self._current_id = hashlib.sha256(derived[0]).digest()[:4]

    @staticmethod
    def _aad(account: str) -> bytes:
        return b"keyturn-client:" + account.encode()

    def seal(self, account: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        sealed = self._ring[self._current_id].encrypt(nonce, plaintext, self._aad(account))
        return bytes([VERSION]) + self._current_id + nonce + sealed

    def open(self, account: str, blob: bytes) -> bytes:
        if len(blob) < 1 + 4 + 12 + 16 or blob[0] != VERSION:
            raise StoreDecryptionError("not a sealed keyturn record")
        key = self._ring.get(blob[1:5])
        if key is None:
            raise StoreDecryptionError("sealed under a key that is not configured")
        try:
            return key.decrypt(blob[5:17], blob[17:], self._aad(account))
        except InvalidTag:
            raise StoreDecryptionError("record does not open for this account") from None

    def is_current(self, blob: bytes) -> bool:
        return blob[1:5] == self._current_id


class PlainSealer(Sealer):
    """The memory store keeps records inside the process: nothing to encrypt at rest."""

    def __init__(self) -> None:
        pass

    def seal(self, account: str, plaintext: bytes) -> bytes:
        return plaintext

    def open(self, account: str, blob: bytes) -> bytes:
        return blob

    def is_current(self, blob: bytes) -> bool:
        return True


def sealer_for(store: object, encryption_keys: list[str] | None) -> Sealer:
    """The memory store may go without keys; every other store needs them."""
    if store == "memory" and not encryption_keys:
        return PlainSealer()
    if not encryption_keys:
        raise ValueError("encryption_keys is required for every store but 'memory'")
    return Sealer(list(encryption_keys))
