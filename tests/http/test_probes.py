"""Liveness, readiness and request ids over a real server; readiness through a real
PostgreSQL outage (a TCP proxy the test cuts and restores)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from testkit.tcp_proxy import TcpProxy
from tests.support import create_database, drop_database, running_server


async def test_readyz_is_ready_while_the_database_answers(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("given", ["abc-123", "A.b_c-9", "x" * 128])
async def test_a_plain_request_id_is_echoed(http: httpx.AsyncClient, given: str) -> None:
    response = await http.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "x" * 129, "a b", "<script>", "a\u00e9", "a,b"])
async def test_an_unusable_request_id_is_replaced(http: httpx.AsyncClient, given: str) -> None:
    response = await http.post("/oauth/token", headers={b"X-Request-Id": given.encode()})
    assert response.status_code == 400  # every answer carries one, errors included
    made = response.headers["x-request-id"]
    assert made != given and len(made) == 16 and made.isalnum()


async def test_every_request_gets_its_own_id(http: httpx.AsyncClient) -> None:
    ids = {(await http.get("/healthz")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.fixture
async def proxied_database() -> AsyncIterator[tuple[str, TcpProxy]]:
    url = await create_database()
    parts = urlsplit(url)
    with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
        netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
        yield urlunsplit(parts._replace(netloc=netloc)), proxy
    await drop_database(url)


async def test_readyz_follows_a_database_outage_and_its_end(
    proxied_database: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    url, proxy = proxied_database
    with running_server(url, tmp_path / "data") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            assert (await client.get("/readyz")).status_code == 200
            proxy.cut()
            started = time.monotonic()
            down = await client.get("/readyz")
            elapsed = time.monotonic() - started
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "unavailable" and down.json()["reason"]
            assert elapsed < 2.5, f"readiness took {elapsed:.1f} s to answer"
            assert (await client.get("/healthz")).status_code == 200  # still alive
            proxy.restore()
            deadline = time.monotonic() + 10
            while (await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "not ready again 10 s after the outage"
                await asyncio.sleep(0.1)
