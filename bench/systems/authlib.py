"""Authlib's authorization server (Flask, SQLAlchemy): bench/peers/authlib_server.py."""

from __future__ import annotations

from bench.common import Row
from bench.systems.wsgi import bench_python_peer


def bench_authlib(conns: list[int], seconds: float, tokens: int) -> list[Row]:
    return bench_python_peer(
        "Authlib (Flask, gunicorn 2 workers)",
        "authlib_server.py",
        "authlib_server:app",
        "/authorize",
        "/token",
        "offline_access",
        conns,
        seconds,
        tokens,
    )
