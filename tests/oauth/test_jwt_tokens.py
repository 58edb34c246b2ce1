"""JWT signing: every algorithm signs deterministically and stays a standard JWS."""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any, cast

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from keyturn.oauth.jwt_tokens import decode_jwt, sign
from keyturn.oauth.keyring import Keyring, PrivateKey, SigningKey

CLAIMS = {"iss": "https://id.example", "sub": "u1", "iat": 1_700_000_000, "exp": 4_000_000_000}


def _ring() -> Keyring:
    keys: list[tuple[str, PrivateKey]] = [
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
    ]
    signing = tuple(SigningKey(f"k{i}", alg, key) for i, (alg, key) in enumerate(keys, 1))
    return Keyring({1: b"m" * 32}, 1, signing, {key.alg: key for key in signing})


RING = _ring()


def _signature(token: str) -> bytes:
    text = token.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_the_same_claims_sign_to_the_same_token(alg: str) -> None:
    assert sign(RING, alg, CLAIMS) == sign(RING, alg, dict(CLAIMS))
    assert sign(RING, alg, CLAIMS) != sign(RING, alg, {**CLAIMS, "sub": "u2"})


def test_es256_signatures_are_raw_r_and_s_that_stock_pyjwt_verifies() -> None:
    token = sign(RING, "ES256", CLAIMS, typ="at+jwt")
    assert len(_signature(token)) == 64  # JWS: r || s, not DER
    public = RING.current_signing["ES256"].private.public_key()
    assert pyjwt.decode(token, public, algorithms=["ES256"]) == CLAIMS
    assert pyjwt.get_unverified_header(token) == {"alg": "ES256", "kid": "k2", "typ": "at+jwt"}
    assert decode_jwt(RING, token, typ="at+jwt") == CLAIMS


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_tokens_verify_with_joserfc_against_the_published_jwks(alg: str) -> None:
    keys = KeySet.import_key_set(cast(Any, RING.jwks()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jwt.decode(sign(RING, alg, CLAIMS), keys, algorithms=[alg])
    assert dict(decoded.claims) == CLAIMS


def test_the_payload_is_compact_json_as_before() -> None:
    payload = sign(RING, "RS256", CLAIMS).split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert raw == json.dumps(CLAIMS, separators=(",", ":")).encode()


def test_a_deterministic_es256_signature_still_depends_on_the_key() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    key = SigningKey("k2", "ES256", loaded)
    ring = Keyring(RING.mac_keys, 1, (key,), {"ES256": key})
    assert _signature(sign(ring, "ES256", CLAIMS)) != _signature(sign(RING, "ES256", CLAIMS))
