from __future__ import annotations

import os

import pytest

from keyturn.oauth.keyring import Keyring
from keyturn.oauth.tokens import (
    MalformedToken,
    UnknownKey,
    mint_access_token,
    mint_refresh_token,
    read_access_token,
    read_refresh_token,
)

RING = Keyring(mac_keys={1: b"k" * 32, 2: b"j" * 32}, current_mac_kid=2)
GRANT = bytes(range(16))


def test_refresh_token_round_trips_with_prefix() -> None:
    token = mint_refresh_token(RING, GRANT, 7)
    assert token.startswith("ktr_")
    parsed = read_refresh_token(token, RING)
    assert (parsed.grant_id, parsed.generation, parsed.kid) == (GRANT, 7, 2)


def test_access_token_round_trips_with_expiry() -> None:
    token = mint_access_token(RING, GRANT, 3, 1_900_000_000)
    assert token.startswith("kta_")
    parsed = read_access_token(token, RING)
    assert (parsed.generation, parsed.expires_at) == (3, 1_900_000_000)


def test_tokens_are_deterministic() -> None:
    assert mint_refresh_token(RING, GRANT, 1) == mint_refresh_token(RING, GRANT, 1)
    assert mint_refresh_token(RING, GRANT, 1) != mint_refresh_token(RING, GRANT, 2)


def test_token_from_an_older_key_still_verifies() -> None:
    old = Keyring(mac_keys={1: b"k" * 32}, current_mac_kid=1)
    token = mint_refresh_token(old, GRANT, 1)
    assert read_refresh_token(token, RING).kid == 1


def test_token_from_a_retired_key_is_unknown() -> None:
    token = mint_refresh_token(RING, GRANT, 1)
    with pytest.raises(UnknownKey):
        read_refresh_token(token, Keyring(mac_keys={1: b"k" * 32}, current_mac_kid=1))


def test_every_flipped_character_fails_the_mac() -> None:
    token = mint_refresh_token(RING, GRANT, 1)
    for index in range(4, len(token)):
        replacement = "A" if token[index] != "A" else "B"
        forged = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(MalformedToken):
            read_refresh_token(forged, RING)


@pytest.mark.parametrize(
    "text",
    ["", "ktr_", "kta_" + "A" * 52, "ktr_" + "A" * 52, "ktr_" + "é" * 52, "x" * 100_000],
)
def test_malformed_input_is_rejected(text: str) -> None:
    with pytest.raises(MalformedToken):
        read_refresh_token(text, RING)


def test_access_token_is_not_a_refresh_token() -> None:
    with pytest.raises(MalformedToken):
        read_refresh_token(mint_access_token(RING, GRANT, 1, 5), RING)


def test_unknown_version_is_rejected() -> None:
    import base64

    token = mint_refresh_token(RING, os.urandom(16), 1)
    raw = bytearray(base64.urlsafe_b64decode(token[4:] + "=="))
    raw[0] = 9
    forged = "ktr_" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(MalformedToken, match="version"):
        read_refresh_token(forged, RING)
