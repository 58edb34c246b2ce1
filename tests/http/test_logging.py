"""Logs of a real server: JSON lines with the request fields, no secret in any line,
one warning for a database outage instead of a traceback per request."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from keyturn.config import Secret, Settings
from keyturn.runtime import open_context
from keyturn.store import open_store
from testkit.tcp_proxy import TcpProxy
from tests.http.helpers import make_partner, refresh, user_tokens
from tests.support import SECRET_KEY, ServerProcess, create_database, drop_database, running_server


def log_lines(server: ServerProcess) -> list[dict[str, Any]]:
    lines = []
    for raw in server.log_path.read_text().splitlines():
        if raw.startswith("keyturn ") or not raw.strip():
            continue  # the start-up banner on stdout, and the warnings printed before set-up
        if raw.startswith("ignoring "):
            continue
        lines.append(json.loads(raw))
    return lines


@pytest.fixture(scope="module")
def json_server(
    server_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with running_server(
        server_database, tmp_path_factory.mktemp("json-logs"), KEYTURN_LOG_FORMAT="json"
    ) as process:
        yield process


async def test_request_lines_carry_the_fields_and_no_secret(
    json_server: ServerProcess, tmp_path: Path
) -> None:
    settings = Settings(
        database=json_server.database,
        data_dir=str(json_server.data_dir),
        secret_key=Secret(SECRET_KEY),
    )
    store = await open_store(json_server.database, pool_size=2, listen=False)
    try:
        partner = await make_partner(await open_context(settings, store=store))
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=json_server.base_url, timeout=10) as http:
        tokens = await user_tokens(http, partner)
        refreshed = await refresh(http, partner, tokens["refresh_token"])
        wrong = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner.client_id, "not-the-secret-but-secretish-1234"),
            headers={"X-Request-Id": "trace-42"},
        )
        await asyncio.sleep(0.2)  # the server writes its line after the answer
    assert wrong.status_code == 401 and refreshed.status_code == 200
    lines = log_lines(json_server)
    assert all({"ts", "level", "msg"} <= set(line) for line in lines)
    requests = [line for line in lines if line.get("logger") == "keyturn.access"]
    assert {"request_id", "method", "path", "status", "duration_ms", "ip"} <= set(requests[-1])
    (traced,) = [line for line in requests if line["request_id"] == "trace-42"]
    assert traced["status"] == 401 and traced["client_id"] == partner.client_id
    assert traced["error"] == "invalid_client" and traced["detail"] == "wrong client secret"
    text = json_server.log_path.read_text()
    secrets = [
        partner.client_secret,
        "not-the-secret-but-secretish-1234",
        tokens["refresh_token"],
        tokens["access_token"],
        refreshed.json()["refresh_token"],
        refreshed.json()["access_token"],
        "code-1234567",  # the registration code of user_tokens
    ]
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == []


def test_the_access_log_can_be_turned_off(server_database: str, tmp_path: Path) -> None:
    with running_server(
        server_database, tmp_path / "quiet", KEYTURN_LOG_FORMAT="json", KEYTURN_ACCESS_LOG="false"
    ) as server:
        for _ in range(3):
            httpx.get(f"{server.base_url}/healthz")
        time.sleep(0.2)
        assert not [line for line in log_lines(server) if line.get("logger") == "keyturn.access"]


def test_redaction_catches_what_a_careless_line_would_leak() -> None:
    from keyturn.logs import redact

    careless = (
        "posting client_secret=s3cr3t-value password: hunter2hunter2 "
        "Authorization: Basic YWJjOmRlZmdoaWprbG1u refresh ktr_AAAAAAAAAAAAAAAAAAAAAAAA "
        "id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    )
    cleaned = redact(careless)
    for secret in ("s3cr3t-value", "hunter2hunter2", "YWJjOmRlZmdoaWprbG1u", "ktr_AAAA", "eyJhbG"):
        assert secret not in cleaned
    assert "client_secret=***" in cleaned


async def test_a_database_outage_is_one_warning_and_one_recovery(tmp_path: Path) -> None:
    url = await create_database()
    parts = urlsplit(url)
    try:
        with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
            via = urlunsplit(parts._replace(netloc=f"postgres@127.0.0.1:{proxy.port}"))
            with running_server(via, tmp_path / "data", KEYTURN_LOG_FORMAT="json") as server:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                    proxy.cut()
                    statuses = [
                        (await http.post("/oauth/token", data={"client_id": "x"})).status_code
                        for _ in range(20)
                    ]
                    proxy.restore()
                    for _ in range(100):
                        answer = await http.post("/oauth/token", data={"client_id": "x"})
                        if answer.status_code != 503:
                            break
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.2)
                lines = log_lines(server)
    finally:
        await drop_database(url)
    assert set(statuses) == {503}
    assert answer.status_code == 401
    messages = [line["msg"] for line in lines if line["level"] in ("warning", "error")]
    down = [m for m in messages if "unavailable" in m]
    up = [m for m in messages if "available again" in m]
    assert (len(down), len(up)) == (1, 1), messages
    assert not [line for line in lines if "exc" in line]


def test_a_claimed_client_id_cannot_leak_a_secret_or_forge_a_line() -> None:
    import io
    import logging

    from keyturn import logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("asyncpg.pool").level)
    try:
        logs.configure("info", "text")
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.stream = stream = io.StringIO()
        token = "ktr_" + "A" * 40
        logs.client_id.set(token)
        logging.getLogger("keyturn.test").warning("something")
        logs.client_id.set("x\n2026-01-01T00:00:00.000Z INFO keyturn.access: request forged=1")
        logging.getLogger("keyturn.test").warning("else")
    finally:
        logs.client_id.set(None)
        root.handlers, root.level = saved[0], saved[1]
        logging.getLogger("asyncpg.pool").setLevel(saved[2])
        logging.getLogger("uvicorn.access").disabled = False
    written = stream.getvalue()
    assert token not in written
    assert len(written.strip().splitlines()) == 2  # the newline stayed inside a quoted value
