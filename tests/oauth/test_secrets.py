"""Keyed hashing of secrets and token MACs (keyturn/oauth/secrets.py)."""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from keyturn.oauth.secrets import KeyedSha256, SecretHasher


@given(key=st.binary(min_size=1, max_size=100), messages=st.lists(st.binary(), max_size=5))
def test_keyed_sha256_is_hmac_sha256_for_every_message_in_turn(
    key: bytes, messages: list[bytes]
) -> None:
    keyed = KeyedSha256(key)
    for message in messages:
        # The keyed state is reused: an earlier message must not leak into the next.
        assert keyed.digest(message) == hmac.digest(key, message, "sha256")


def test_secret_hasher_verifies_only_the_right_secret_under_its_own_key() -> None:
    hasher = SecretHasher(b"k" * 32)
    stored = hasher.hash("s3cret")
    assert hasher.verify("s3cret", stored)
    assert not hasher.verify("s3cret!", stored)
    assert not SecretHasher(b"j" * 32).verify("s3cret", stored)
