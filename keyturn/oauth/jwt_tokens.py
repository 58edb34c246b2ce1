"""JWTs signed with the keyring: ID tokens (OIDC Core §2, §12.2) and RFC 9068 access tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.utils import der_to_raw_signature

from keyturn.oauth.keyring import Keyring, SigningKey
from keyturn.oauth.levels import acr_of, amr_of

ID_TOKEN_TTL = 3600


class DeterministicES256(ECAlgorithm):
    """ES256 with RFC 6979 nonces: the same claims under the same key sign the same.

    A token response is a pure function of the grant row (oauth/issue.py), so a
    refresh retried inside the grace window gets the identical bytes; ECDSA with
    random nonces would break that for ES256 ID tokens and JWT access tokens.
    The output is a standard ES256 JWS (verification cannot tell the nonces
    apart), and no nonce ever depends on the random number generator.
    """

    def __init__(self) -> None:
        super().__init__(ECAlgorithm.SHA256)

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        der = key.sign(msg, ec.ECDSA(self.hash_alg(), deterministic_signing=True))
        return der_to_raw_signature(der, key.curve)


# RS256 (PKCS#1 v1.5) and EdDSA sign deterministically already.
_JWS = jwt.PyJWS()
_JWS.unregister_algorithm("ES256")
_JWS.register_algorithm("ES256", DeterministicES256())


class UnknownAlgorithm(Exception):
    pass


def _signing_key(keyring: Keyring, alg: str) -> SigningKey:
    key = keyring.current_signing.get(alg)
    if key is None:
        raise UnknownAlgorithm(alg)
    return key


def sign(keyring: Keyring, alg: str, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    key = _signing_key(keyring, alg)
    # The payload as jwt.encode writes it; PyJWS is used for its signing algorithms.
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _JWS.encode(payload, key.private, algorithm=alg, headers={"kid": key.kid, "typ": typ})


def token_hash(token: str, alg: str) -> str:
    """at_hash: the left half of the hash named by the JWS alg (OIDC Core §3.1.3.6).

    Ed25519 signs with SHA-512, so EdDSA tokens use SHA-512 here too.
    """
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token(
    keyring: Keyring,
    *,
    alg: str,
    issuer: str,
    subject: str,
    client_id: str,
    issued_at: int,
    auth_time: float | None,
    access_token: str,
    nonce: str | None,
    auth_level: int = 1,
) -> str:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "iat": issued_at,
        "exp": issued_at + ID_TOKEN_TTL,
        "at_hash": token_hash(access_token, alg),
        # How the user signed in, the same on every refresh of the grant.
        "acr": acr_of(auth_level),
        "amr": amr_of(auth_level),
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time)
    if nonce is not None:
        claims["nonce"] = nonce
    return sign(keyring, alg, claims)


def decode_jwt(keyring: Keyring, token: str, *, typ: str | None = None) -> dict[str, Any]:
    """Verify a JWT made by this server; raise `jwt.InvalidTokenError` otherwise."""
    header = jwt.get_unverified_header(token)
    key = keyring.verification_key(str(header.get("kid")))
    if key is None or header.get("alg") != key.alg:
        raise jwt.InvalidTokenError("unknown key or algorithm")
    if typ is not None and str(header.get("typ", "")).lower() != typ:
        raise jwt.InvalidTokenError("wrong typ")
    claims: dict[str, Any] = jwt.decode(
        token, key.private.public_key(), algorithms=[key.alg], options={"verify_aud": False}
    )
    return claims
