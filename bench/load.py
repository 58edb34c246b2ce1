"""Load: wrk driving bench/refresh.lua, and one measured run as a table Row."""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.common import ROOT, Row
from bench.cpu import cpu_seconds, database_cpu_seconds, peak_rss_mb


def wrk(
    url: str,
    tokens: list[str],
    auth: tuple[str, str],
    connections: int,
    seconds: float,
    mode: str = "refresh",
    path: str | None = None,
) -> dict[str, float]:
    """Run wrk; `tokens` is replaced in place by the tokens the chains ended on."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(tokens) + "\n")
    leftover = handle.name + ".left"
    env = {
        **os.environ,
        "KT_OUT": leftover,
        "KT_TOKENS": handle.name,
        "KT_THREADS": "2",
        "KT_MODE": mode,
        "KT_AUTH": base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode(),
    }
    if path:
        env["KT_PATH"] = path
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "refresh.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    if mode == "refresh":
        tokens[:] = Path(leftover).read_text().split()
    os.unlink(leftover)
    return parse_result(out)


def parse_result(out: str) -> dict[str, float]:
    """The KT_RESULT line refresh.lua prints: successes, errors, rate and latencies."""
    line = next(line for line in out.splitlines() if line.startswith("KT_RESULT"))
    values = {key: value for key, value in (part.split("=") for part in line.split()[1:])}
    requests, errors = int(values["requests"]), int(values["errors"])
    duration = int(values["duration_us"]) / 1e6
    return {
        "ok": requests - errors,
        "errors": errors,
        "rps": (requests - errors) / duration,
        "p50": int(values["p50_us"]) / 1000,
        "p99": int(values["p99_us"]) / 1000,
    }


def measure(
    name: str,
    connections: int,
    app_pids: Callable[[], list[int]],
    run: Callable[[], dict[str, float]],
    with_db: bool | str = True,
) -> Row:
    """Run the load once; CPU of the app's processes and of its database (postgres, redis)."""
    kind = with_db if isinstance(with_db, str) else "postgres"
    apps = app_pids()
    app_before, db_before = cpu_seconds(apps), database_cpu_seconds(kind)
    result = run()
    app_cpu = cpu_seconds(apps) - app_before
    db_cpu = database_cpu_seconds(kind) - db_before if with_db else 0.0
    done = max(1.0, result["ok"])
    return Row(
        name,
        connections,
        result["rps"],
        result["p50"],
        result["p99"],
        int(result["errors"]),
        app_cpu * 1000 / done,
        db_cpu * 1000 / done,
        peak_rss_mb(apps),
    )


def chains(
    label: str,
    conns: list[int],
    pids: Callable[[], list[int]],
    base: str,
    pool: list[str],
    auth: tuple[str, str],
    seconds: float,
    path: str,
    with_db: bool | str,
) -> list[Row]:
    """One wrk run per connection count; each run carries on the chains of the last."""
    rows = []
    for connections in conns:
        rows.append(
            measure(
                label,
                connections,
                pids,
                partial(wrk, base, pool, auth, connections, seconds, path=path),
                with_db=with_db,
            )
        )
    return rows
