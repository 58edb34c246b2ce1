"""Webhook secrets and signatures as the Standard Webhooks specification defines them.

A secret is `whsec_` and the base64 of 24 random bytes. Each request carries
`webhook-id` (the event id: the same on every retry), `webhook-timestamp`
(Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, so receivers verify it with the specification's own
libraries. The secret is stored sealed (AES-GCM) under a key derived from the
master secret, like the server keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "whsec_"
SEAL_CONTEXT = b"keyturn webhook secret"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
        "user-agent": "keyturn-webhooks",
    }


def seal(key: bytes, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), SEAL_CONTEXT)


def unseal(key: bytes, sealed: bytes) -> str:
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], SEAL_CONTEXT).decode()
    except InvalidTag:
        raise ValueError("cannot unseal a webhook secret: the master secret differs") from None
