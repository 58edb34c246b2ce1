"""django-oauth-toolkit as its tutorial sets it up: bench/peers/dot_server.py."""

from __future__ import annotations

from bench.common import Row
from bench.systems.wsgi import bench_python_peer


def bench_dot(conns: list[int], seconds: float, tokens: int, *, hashed: bool) -> list[Row]:
    """django-oauth-toolkit; `hashed` is its default (client secrets hashed with PBKDF2)."""
    label = "django-oauth-toolkit" + (" (default hashed secret)" if hashed else " (plain secret)")
    return bench_python_peer(
        label,
        "dot_server.py",
        "dot_server:application",
        "/login",
        "/o/token/",
        "read",
        conns,
        seconds,
        tokens,
        HASH_CLIENT_SECRET="1" if hashed else "0",
    )
