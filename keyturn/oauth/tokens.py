"""Self-authenticating token formats (docs/design.md, the token model).

A token is a prefix and the base64url form of a fixed-layout body followed by
a truncated HMAC-SHA256 over prefix and body:

    refresh  ktr_  version:u8 kid:u16 grant:16 bytes generation:u32        + mac:16
    access   kta_  version:u8 kid:u16 grant:16 bytes generation:u32 exp:u32 + mac:16

Nothing secret is stored: the database holds the grant row, and a forged or
malformed token fails here, before any query. The prefix lets secret scanners
and log filters recognise keyturn tokens.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass
from functools import lru_cache

from keyturn.oauth.keyring import Keyring
from keyturn.oauth.secrets import KeyedSha256

REFRESH_PREFIX = "ktr_"
ACCESS_PREFIX = "kta_"
VERSION = 1
MAC_LENGTH = 16  # 128-bit tag: forging needs 2^128 work per guess

_REFRESH = struct.Struct(">BH16sI")
_ACCESS = struct.Struct(">BH16sII")
_REFRESH_LENGTH = 4 + len(base64.urlsafe_b64encode(bytes(_REFRESH.size + MAC_LENGTH)).rstrip(b"="))
_ACCESS_LENGTH = 4 + len(base64.urlsafe_b64encode(bytes(_ACCESS.size + MAC_LENGTH)).rstrip(b"="))


class MalformedToken(Exception):
    """Not a well-formed, authentic keyturn token of the expected kind."""


class UnknownKey(MalformedToken):
    """The MAC key id is not in the keyring (retired, or not yet loaded here)."""

    def __init__(self, kid: int) -> None:
        super().__init__(f"unknown key id {kid}")
        self.kid = kid


@dataclass(frozen=True, slots=True)
class RefreshToken:
    grant_id: bytes
    generation: int
    kid: int


@dataclass(frozen=True, slots=True)
class AccessToken:
    grant_id: bytes
    generation: int
    expires_at: int
    kid: int


@lru_cache(maxsize=64)
def _keyed(key: bytes) -> KeyedSha256:
    return KeyedSha256(key)


def _mac(key: bytes, prefix: str, body: bytes) -> bytes:
    return _keyed(key).digest(prefix.encode() + body)[:MAC_LENGTH]


def _encode(prefix: str, body: bytes, key: bytes) -> str:
    raw = body + _mac(key, prefix, body)
    return prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(token: str, prefix: str, length: int, keyring: Keyring) -> bytes:
    if len(token) != length or not token.startswith(prefix):
        raise MalformedToken("wrong prefix or length")
    text = token[len(prefix) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken("not base64url") from exc
    # Reject non-canonical encodings so one token has exactly one spelling.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise MalformedToken("non-canonical encoding")
    body, tag = raw[:-MAC_LENGTH], raw[-MAC_LENGTH:]
    if body[0] != VERSION:
        raise MalformedToken(f"unknown version {body[0]}")
    kid = int.from_bytes(body[1:3], "big")
    key = keyring.mac_keys.get(kid)
    if key is None:
        raise UnknownKey(kid)
    if not hmac.compare_digest(_mac(key, prefix, body), tag):
        raise MalformedToken("bad MAC")
    return body


def mint_refresh_token(keyring: Keyring, grant_id: bytes, generation: int) -> str:
    body = _REFRESH.pack(VERSION, keyring.current_mac_kid, grant_id, generation)
    return _encode(REFRESH_PREFIX, body, keyring.current_mac_key)


def mint_access_token(keyring: Keyring, grant_id: bytes, generation: int, expires_at: int) -> str:
    body = _ACCESS.pack(VERSION, keyring.current_mac_kid, grant_id, generation, expires_at)
    return _encode(ACCESS_PREFIX, body, keyring.current_mac_key)


def read_refresh_token(token: str, keyring: Keyring) -> RefreshToken:
    body = _decode(token, REFRESH_PREFIX, _REFRESH_LENGTH, keyring)
    _, kid, grant_id, generation = _REFRESH.unpack(body)
    return RefreshToken(grant_id=grant_id, generation=generation, kid=kid)


def read_access_token(token: str, keyring: Keyring) -> AccessToken:
    body = _decode(token, ACCESS_PREFIX, _ACCESS_LENGTH, keyring)
    _, kid, grant_id, generation, expires_at = _ACCESS.unpack(body)
    return AccessToken(grant_id=grant_id, generation=generation, expires_at=expires_at, kid=kid)
