"""Shared helpers for the test suite: real databases, real server processes."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

# The helpers bench/ and tools/ share live in testkit; re-exported here so the
# tests keep importing them from tests.support.
from testkit.services import (
    IN_CI,
    POSTGRES_URL,
    REDIS_URL,
    SECRET_KEY,
    ServerProcess,
    free_port,
    running_server,
)

__all__ = [
    "IN_CI",
    "POSTGRES_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "ServerProcess",
    "away_from_minute_edge",
    "create_database",
    "drop_database",
    "free_port",
    "running_server",
    "unavailable",
]


def unavailable(what: str, error: BaseException) -> None:
    """Skip with a clear message, except in CI where a missing service is a failure."""
    message = f"{what} is not reachable ({error}); set KEYTURN_TEST_* to point at one"
    if IN_CI:
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database() -> str:
    """A uniquely named empty database on the test server; returns its URL."""
    name = f"keyturn_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", exc)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(POSTGRES_URL, name)


async def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def away_from_minute_edge(margin: float = 8.0) -> None:
    """Rate limits count in fixed one-minute windows; start a counting test well inside one."""
    into = time.time() % 60
    if into > 60 - margin:
        time.sleep(60 - into + 0.1)
