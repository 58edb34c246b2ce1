"""keyturn itself: a client and a user made with its CLI, `keyturn serve`, refresh chains,
introspection and the trivial-endpoint ceiling on the same server; start-up time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import common
from bench.common import PASSWORD, REDIRECT, SECRET_KEY, Row
from bench.load import chains, measure, wrk
from bench.processes import process, tree
from bench.seed import keyturn_tokens
from bench.systems.trivial import trivial_endpoint
from testkit.services import free_port


def keyturn_cli(database: str, data_dir: Path, *args: str) -> dict[str, str]:
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY}
    out = subprocess.run(
        [*common.KEYTURN, *args, "--database", database, "--data-dir", str(data_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    parsed: dict[str, str] = json.loads(out)
    return parsed


def serve_command(port: int, database: str, data: Path, workers: int = 1) -> list[str]:
    return [
        *common.KEYTURN,
        "serve",
        "--port",
        str(port),
        "--database",
        database,
        "--data-dir",
        str(data),
        "--workers",
        str(workers),
    ]


@contextmanager
def keyturn_server(
    database: str, data: Path, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`keyturn serve` on a free loopback port until the block ends, once /healthz
    answers: its process and base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = serve_command(port, database, data, workers)
    with process(
        command, {"KEYTURN_SECRET_KEY": SECRET_KEY, **(env or {})}, ready=f"{base}/healthz"
    ) as proc:
        yield proc, base


def keyturn_app(database: str, data: Path, *client_options: str) -> tuple[tuple[str, str], str]:
    """A confidential client and a user with a password, made with the keyturn CLI
    (after `keyturn migrate`, which prepares the database the server will use)."""
    keyturn_cli(database, data, "migrate")
    client = keyturn_cli(
        database,
        data,
        "client",
        "create",
        "--name",
        "bench",
        "--scope",
        "offline_access",
        "--redirect-uri",
        REDIRECT,
        *client_options,
    )
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    subprocess.run(
        [
            *common.KEYTURN,
            "user",
            "create",
            "--email",
            email,
            "--password-stdin",
            "--database",
            database,
            "--data-dir",
            str(data),
        ],
        input=f"{PASSWORD}\n",
        text=True,
        check=True,
        capture_output=True,
        env={**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY},
    )
    return (client["client_id"], client["client_secret"]), email


def bench_keyturn(
    label: str,
    database: str,
    workers: int,
    conns: list[int],
    seconds: float,
    tokens: int,
    introspect: bool = False,
) -> list[Row]:
    rows: list[Row] = []
    data = Path(tempfile.mkdtemp(prefix="kt-bench-"))
    auth, email = keyturn_app(database, data)
    with keyturn_server(database, data, workers) as (proc, base):
        pool = asyncio.run(keyturn_tokens(base, *auth, REDIRECT, email, PASSWORD, tokens))
        with_db = database.startswith("postgres")
        rows += chains(
            label, conns, lambda: tree(proc.pid), base, pool, auth, seconds, "/oauth/token", with_db
        )
        if introspect:
            rows.append(
                measure(
                    f"{label} introspection",
                    conns[0],
                    lambda: tree(proc.pid),
                    lambda: wrk(base, pool, auth, conns[0], seconds, "introspect"),
                )
            )
            rows.append(
                trivial_endpoint(label, conns[0], lambda: tree(proc.pid), base, auth, seconds)
            )
    shutil.rmtree(data, ignore_errors=True)
    return rows


def startup_seconds(database: str) -> float:
    """From starting `keyturn serve` to its first /healthz 200."""
    data = Path(tempfile.mkdtemp(prefix="kt-start-"))
    port = free_port()
    started = time.monotonic()
    command = serve_command(port, database, data)
    with process(
        command, {"KEYTURN_SECRET_KEY": SECRET_KEY}, ready=f"http://127.0.0.1:{port}/healthz"
    ):
        elapsed = time.monotonic() - started
    shutil.rmtree(data, ignore_errors=True)
    return elapsed
