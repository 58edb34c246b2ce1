"""Tokens and secrets never reach a log line through repr() or str()."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from keyturn.client import AsyncTokenManager, TokenManager, TokenRecord
from keyturn.client._sealing import Sealer
from tests.client.conftest import KEYS

ACCESS = "access-token-0123456789-abcdefghij"
REFRESH = "refresh-token-0123456789-abcdefghij"
ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEifQ.id-token-signature"
SECRET = "client-secret-0123456789-abcdefghij"


def record() -> TokenRecord:
    return TokenRecord.from_response(
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "id_token": ID_TOKEN,
            "expires_in": 3600,
            "scope": "openid email",
        },
        now=1_700_000_000.0,
    )


def shown(value: object) -> list[str]:
    """Every way a value commonly reaches a log line."""
    return [repr(value), str(value), f"{value}", f"{value!r}", repr([value]), repr({"a": value})]


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret[4:20] not in text  # not even a slice of it


def test_a_token_record_repr_shows_none_of_its_tokens() -> None:
    for text in shown(record()):
        assert_hidden(text, ACCESS, REFRESH, ID_TOKEN)
        # ... but still says what a person debugging needs.
        assert "expires_at=1700003600.0" in text and "scope='openid email'" in text
        assert "access_token='***'" in text and "refresh_token='***'" in text


def test_a_token_record_repr_says_which_tokens_are_absent() -> None:
    bare = TokenRecord.from_response({"access_token": ACCESS}, now=0.0)
    assert "refresh_token=None" in repr(bare) and "id_token=None" in repr(bare)
    assert_hidden(repr(bare), ACCESS)


def test_a_logged_token_record_shows_no_token(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("app").info("refreshed %s", record())
        logging.getLogger("app").info("refreshed %r", record())
    assert_hidden(caplog.text, ACCESS, REFRESH, ID_TOKEN)


def test_masking_the_repr_keeps_the_record_whole() -> None:
    original = record()
    assert TokenRecord.from_bytes(original.to_bytes()) == original
    assert dataclasses.asdict(original)["refresh_token"] == REFRESH
    assert dataclasses.replace(original, scope="x").access_token == ACCESS


async def test_an_authorization_start_repr_shows_no_code_verifier() -> None:
    tm = AsyncTokenManager(
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint="https://idp.example/token",
        client_id="app",
        store="memory",
    )
    start = await tm.authorization_url("https://app.example/callback")
    for text in shown(start):
        assert_hidden(text, start.code_verifier)
        assert "redirect_uri='https://app.example/callback'" in text
    await tm.aclose()


async def test_a_token_manager_repr_shows_no_client_secret_or_encryption_key() -> None:
    tm = AsyncTokenManager(
        issuer="https://idp.example",
        client_id="app",
        client_secret=SECRET,
        store="memory",
        encryption_keys=KEYS,
    )
    await tm.save("a", {"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 60})
    for value in (tm, tm._sealer, tm.cache, Sealer(KEYS)):
        for text in shown(value):
            assert_hidden(text, SECRET, ACCESS, REFRESH, *KEYS)
    await tm.aclose()
    sync = await asyncio.to_thread(
        TokenManager,
        issuer="https://idp.example",
        client_id="app",
        client_secret=SECRET,
        store="memory",
    )
    for text in shown(sync):
        assert_hidden(text, SECRET)
    await asyncio.to_thread(sync.close)
