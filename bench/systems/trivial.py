"""The trivial-endpoint ceiling: GET /healthz on keyturn's own HTTP stack (same ASGI
server, same workers), measured on the server a keyturn run already started."""

from __future__ import annotations

from collections.abc import Callable

from bench.common import Row
from bench.load import measure, wrk


def trivial_endpoint(
    label: str,
    connections: int,
    pids: Callable[[], list[int]],
    base: str,
    auth: tuple[str, str],
    seconds: float,
) -> Row:
    return measure(
        f"{label} trivial endpoint (ceiling)",
        connections,
        pids,
        lambda: wrk(base, [], auth, connections, seconds, "trivial"),
        with_db=False,
    )
