"""Token lifetimes from careless or hostile servers: never crash, never send an expired token."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from keyturn.client import AsyncTokenManager, TokenRecord, TokenRefreshError
from tests.client.conftest import FakeClock

NOW = 1_700_000_000.0


def jwt(payload: bytes) -> str:
    """An unsigned JWT with this exact payload (the SDK reads `exp` without verifying)."""
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{body}.sig"


def unavailable_server() -> AsyncTokenManager:
    """A manager whose token endpoint is down: a refresh can never succeed."""
    return AsyncTokenManager(
        token_endpoint="https://idp.example/oauth/token",
        client_id="app",
        store="memory",
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
        clock=clock_at(NOW),
        retry_backoff=0.001,
    )


def clock_at(now: float) -> FakeClock:
    clock = FakeClock()
    clock.now = now
    return clock


@pytest.mark.parametrize(("expires_in", "seconds"), [("3600", 3600), ("3600.5", 3600.5)])
def test_a_numeric_string_expires_in_counts_as_seconds(expires_in: str, seconds: float) -> None:
    record = TokenRecord.from_response({"access_token": "kta_x", "expires_in": expires_in}, now=NOW)
    assert record.expires_at == NOW + seconds
    assert record.refresh_at is not None and NOW < record.refresh_at < NOW + seconds


async def test_a_token_with_a_string_expires_in_is_never_sent_after_expiry() -> None:
    tm = unavailable_server()
    clock = tm._clock
    assert isinstance(clock, FakeClock)
    await tm.save("a", {"access_token": "kta_x", "refresh_token": "r", "expires_in": "3600"})
    assert await tm.access_token("a") == "kta_x"
    clock.advance(3601)
    with pytest.raises(TokenRefreshError):
        await tm.access_token("a")
    await tm.aclose()


UNUSABLE_EXPIRES_IN: list[Any] = [
    "abc",
    "",
    "3600s",
    "-3600",
    " -1",
    "NaN",
    "nan",
    "Infinity",
    "inf",
    "1e400",
    pytest.param("1" * 400, id="400-digit-string"),
    "0x10",
    "3_600",  # float() takes it; a server means nothing by it
    "\u0663\u0666\u0660\u0660",  # Arabic-Indic 3600: float() takes it too
    True,
    False,
    None,
    [3600],
    {"seconds": 3600},
    -1,
    -3600.0,
    0,
    float("nan"),
    float("inf"),
    float("-inf"),
    10**30,
    pytest.param(10**400, id="10**400"),
    1e308,
]


@pytest.mark.parametrize("expires_in", UNUSABLE_EXPIRES_IN)
def test_an_unusable_expires_in_is_an_unknown_lifetime(expires_in: Any) -> None:
    record = TokenRecord.from_response({"access_token": "kta_x", "expires_in": expires_in}, now=NOW)
    assert (record.expires_at, record.refresh_at) == (None, None)
    assert TokenRecord.from_bytes(record.to_bytes()) == record


@pytest.mark.parametrize("expires_in", UNUSABLE_EXPIRES_IN)
def test_an_unusable_expires_in_falls_back_to_the_jwt_exp(expires_in: Any) -> None:
    """So a JWT access token is still refreshed before its own exp, and not sent after it."""
    token = jwt(json.dumps({"exp": NOW + 600}).encode())
    record = TokenRecord.from_response({"access_token": token, "expires_in": expires_in}, now=NOW)
    assert record.expires_at == NOW + 600
    assert record.expired(NOW + 600) and record.due(NOW + 599)


async def test_an_unusable_expires_in_on_a_jwt_is_never_sent_after_its_exp() -> None:
    tm = unavailable_server()
    token = jwt(json.dumps({"exp": NOW + 600}).encode())
    await tm.save("a", {"access_token": token, "refresh_token": "r", "expires_in": "soon"})
    assert await tm.access_token("a") == token
    tm._clock.advance(601)  # type: ignore[attr-defined]
    with pytest.raises(TokenRefreshError):
        await tm.access_token("a")
    await tm.aclose()


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exp": 1000000000000000000000000000000}',  # 10**30
        pytest.param(b'{"exp": 1' + b"0" * 400 + b"}", id="beyond-a-float"),
        pytest.param(b'{"exp": 1' + b"0" * 5000 + b"}", id="beyond-int-parsing-limit"),
        b'{"exp": 1e308}',
        b'{"exp": Infinity}',
        b'{"exp": -Infinity}',
        b'{"exp": NaN}',
        b'{"exp": -1}',
        b'{"exp": 0}',
        b'{"exp": true}',
        b'{"exp": "1700000600"}',
        b'{"exp": [1700000600]}',
        b'{"exp": null}',
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-past-the-recursion-limit"),
        b"\xff\xfe",
        b"not json",
    ],
)
async def test_an_absurd_jwt_exp_is_an_unknown_lifetime_not_a_crash(payload: bytes) -> None:
    tm = AsyncTokenManager(
        token_endpoint="https://idp.example/t", client_id="app", store="memory", clock=clock_at(NOW)
    )
    record = await tm.save("a", {"access_token": jwt(payload), "refresh_token": "r"})
    assert (record.expires_at, record.refresh_at) == (None, None)
    assert await tm.access_token("a") == record.access_token
    await tm.aclose()


def test_a_jwt_exp_more_than_ten_years_away_is_an_unknown_lifetime() -> None:
    token = jwt(json.dumps({"exp": NOW + 11 * 365 * 86400}).encode())
    assert TokenRecord.from_response({"access_token": token}, now=NOW).expires_at is None
