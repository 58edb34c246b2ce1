"""keyturn behind PgBouncer: refreshes through session and transaction pooling.

    .venv/bin/python bench/pgbouncer.py --pgbouncer /opt/pgbouncer/bin/pgbouncer
    .venv/bin/python bench/pgbouncer.py --seconds 5 --connections 16

One PostgreSQL database, one keyturn instance (one worker), refresh chains at each
connection count: first straight to PostgreSQL, then through a PgBouncer started
for the run on a loopback port, in `pool_mode = session` and then `transaction`
(with `max_prepared_statements`, which PgBouncer 1.21 and later honour, so asyncpg's
prepared statements work in transaction pooling), and straight to PostgreSQL again.
The chains carry on from one path to the next, so every path refreshes the same
grants. Behind transaction pooling keyturn's LISTEN connection goes to PostgreSQL
itself (`KEYTURN_LISTEN_DATABASE`): the script also counts the notices a listener
through each pool mode hears, and transaction pooling drops them. CPU is the server's and
PgBouncer's together ("app"), and PostgreSQL's ("db"), per refresh.

A path that does not work (the server fails to start, or the chains get errors)
is reported with what went wrong rather than stopping the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench.common import PASSWORD, REDIRECT, Row  # noqa: E402
from bench.databases import fresh_database  # noqa: E402
from bench.load import chains  # noqa: E402
from bench.processes import process, tree  # noqa: E402
from bench.report import table  # noqa: E402
from bench.seed import keyturn_tokens  # noqa: E402
from bench.systems.keyturn import keyturn_app, keyturn_server  # noqa: E402
from testkit.services import free_port  # noqa: E402

TOKENS = 3000


def version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def pgbouncer(binary: str, database: str, mode: str) -> Iterator[tuple[str, int]]:
    """A PgBouncer in front of `database` with `pool_mode = mode`, on a free loopback
    port, stopped when the block ends; yields the URL to it and its PID."""
    target = urlsplit(database)
    name = target.path.lstrip("/")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="kt-pgbouncer-"))
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{name} = host={target.hostname} port={target.port or 5432} dbname={name}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\n"
        f"pool_mode = {mode}\n"
        # keyturn's pool (10) and its LISTEN connection, with room to spare.
        "default_pool_size = 20\n"
        "max_client_conn = 200\n"
        # Tracks asyncpg's named prepared statements across server connections
        # (PgBouncer 1.21 and later; older versions ignore it with a warning).
        "max_prepared_statements = 200\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it drops to postgres
        shutil.chown(folder, "postgres")
        command += ["--user", "postgres"]
    try:
        with process(command, {}) as proc:
            wait_port(port)
            yield f"postgresql://postgres@127.0.0.1:{port}/{name}", proc.pid
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def notices_heard(listen_url: str, database: str, sent: int = 5) -> int:
    """LISTEN on `listen_url` while other clients of it run queries, NOTIFY `sent`
    times straight to `database`: how many notices the listener heard."""
    heard: list[object] = []
    listener = await asyncpg.connect(listen_url)
    others = [await asyncpg.connect(listen_url) for _ in range(3)]
    direct = await asyncpg.connect(database)
    try:
        await listener.add_listener("kt_bench", lambda *args: heard.append(args[-1]))
        for n in range(sent):
            await direct.execute(f"NOTIFY kt_bench, '{n}'")
            for other in others:
                await other.fetchval("SELECT 1")
            await asyncio.sleep(0.1)
        await listener.fetchval("SELECT 1")
        await asyncio.sleep(0.3)
        return len(heard)
    finally:
        for connection in (listener, *others, direct):
            await connection.close()


def run_path(
    label: str,
    url: str,
    extra_pids: list[int],
    data: Path,
    pool: list[str],
    auth: tuple[tuple[str, str], str],
    conns: list[int],
    seconds: float,
    env: dict[str, str],
) -> list[Row]:
    """`keyturn serve` on `url`; refresh chains at each connection count."""
    (client, email) = auth
    try:
        with keyturn_server(url, data, env=env) as (proc, base):
            if not pool:
                pool += asyncio.run(
                    keyturn_tokens(base, *client, REDIRECT, email, PASSWORD, TOKENS)
                )
            pids = lambda: tree(proc.pid) + extra_pids  # noqa: E731
            return chains(label, conns, pids, base, pool, client, seconds, "/oauth/token", True)
    except (RuntimeError, subprocess.CalledProcessError) as failed:
        return [Row(label, conns[0], note=f"fails: {str(failed)[:120]}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pgbouncer", default=shutil.which("pgbouncer") or "pgbouncer")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    print(f"# keyturn behind {version(args.pgbouncer)}", flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    with fresh_database() as database:
        data = Path(tempfile.mkdtemp(prefix="kt-pgbouncer-"))
        auth = keyturn_app(database, data)
        pool: list[str] = []
        conns, seconds = args.connections, args.seconds
        direct = "PostgreSQL directly"
        rows += run_path(direct, database, [], data, pool, auth, conns, seconds, {})
        for mode in ("session", "transaction"):
            with pgbouncer(args.pgbouncer, database, mode) as (url, pid):
                heard = asyncio.run(notices_heard(url, database))
                notes.append(f"LISTEN through pool_mode = {mode}: {heard} of 5 notices heard")
                # Behind transaction pooling the listener goes to PostgreSQL itself.
                env = {"KEYTURN_LISTEN_DATABASE": database} if mode == "transaction" else {}
                label = f"PgBouncer, pool_mode = {mode}"
                rows += run_path(label, url, [pid], data, pool, auth, conns, seconds, env)
        rows += run_path(f"{direct}, again", database, [], data, pool, auth, conns, seconds, {})
        shutil.rmtree(data, ignore_errors=True)
    print(table([row for row in rows if not row.note]))
    for row in rows:
        if row.note:
            print(f"{row.system}: {row.note}")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
