"""The SDK against a third-party server: node oidc-provider with refresh-token rotation.

The test installs oidc-provider from npm into .cache/ (never vendored) and runs
it on loopback with automatic sign-in and consent.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.client import AsyncTokenManager, ReauthorizationRequired
from testkit import oidc_provider as npm_oidc_provider
from testkit.oidc_provider import NodeMissing
from tests.client.conftest import CountingTransport, FakeClock
from tests.support import IN_CI, free_port

CLIENT_ID, SECRET = "interop", "interop-secret-0123456789-abcdefghij"
REDIRECT = "http://127.0.0.1:8123/callback"


def install_oidc_provider() -> Path:
    """npm install into the cache folder once (testkit.oidc_provider); returns the folder
    to run node in. Without node and npm: a skip, or a failure in CI."""
    try:
        return npm_oidc_provider.install_oidc_provider()
    except NodeMissing as missing:
        if IN_CI:
            pytest.fail(f"CI=true: {missing}")
        pytest.skip(str(missing))


def start_oidc_provider(folder: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        ["node", "oidc_provider_server.mjs"],
        cwd=folder,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "PORT": str(port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": SECRET,
            "REDIRECT_URI": REDIRECT,
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ready "):
            return process, line.split()[1]
    raise RuntimeError("oidc-provider did not start")


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[str]:
    process, issuer = start_oidc_provider(install_oidc_provider())
    yield issuer
    process.terminate()
    process.wait(timeout=10)
    if process.stdout:
        process.stdout.close()


async def log_in(tm: AsyncTokenManager, account: str) -> None:
    """Walk the code flow; the server signs in and consents by itself."""
    start = await tm.authorization_url(REDIRECT, "openid offline_access", prompt="consent")
    url = httpx.URL(start.url)
    async with httpx.AsyncClient() as browser:
        for _ in range(10):
            response = await browser.get(url)
            location = response.headers["location"]
            if location.startswith(REDIRECT):
                await tm.complete_authorization(account, start, dict(httpx.URL(location).params))
                return
            url = url.join(location)
    raise AssertionError("the code flow did not come back")


def manager(issuer: str, **options: Any) -> AsyncTokenManager:
    return AsyncTokenManager(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        store="memory",
        retry_backoff=0.001,
        **options,
    )


async def test_code_flow_and_rotating_refresh(oidc_provider: str, clock: FakeClock) -> None:
    counting = CountingTransport()
    tm = manager(oidc_provider, clock=clock, transport=counting)
    await log_in(tm, "ann")
    first = await tm.token("ann")
    assert first.refresh_token and first.id_token
    clock.advance(3600)
    second = await tm.token("ann")
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token  # rotated by the server
    clock.advance(3600)
    third = await tm.token("ann")
    assert third.refresh_token != second.refresh_token
    await tm.aclose()


async def test_single_flight_against_oidc_provider(oidc_provider: str, clock: FakeClock) -> None:
    counting = CountingTransport()
    tm = manager(oidc_provider, clock=clock, transport=counting)
    await log_in(tm, "bob")
    calls_before = counting.token_calls
    clock.advance(3600)
    tokens = await asyncio.gather(*(tm.access_token("bob") for _ in range(40)))
    assert len(set(tokens)) == 1
    assert counting.token_calls - calls_before == 1
    await tm.aclose()


async def test_revoked_grant_asks_for_reauthorisation(oidc_provider: str, clock: FakeClock) -> None:
    tm = manager(oidc_provider, clock=clock)
    await log_in(tm, "cat")
    record = await tm.token("cat")
    other = manager(oidc_provider, clock=clock)
    await other.save(
        "cat",
        {
            "access_token": record.access_token,
            "expires_in": 3600,
            "refresh_token": record.refresh_token,
            "token_type": "Bearer",
        },
    )
    await tm.revoke("cat")
    clock.advance(3600)
    with pytest.raises(ReauthorizationRequired) as caught:
        await other.access_token("cat")
    assert caught.value.reason == "invalid_grant"
    await tm.aclose()
    await other.aclose()


async def test_httpx_auth_against_oidc_provider_userinfo(oidc_provider: str) -> None:
    tm = manager(oidc_provider)
    await log_in(tm, "dan")
    async with httpx.AsyncClient(auth=tm.auth("dan")) as api:
        response = await api.get(f"{oidc_provider}/me")
    assert response.status_code == 200 and response.json()["sub"] == "user-1"
    await tm.aclose()
