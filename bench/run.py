"""keyturn's benchmark suite: refresh-token chains against keyturn and its peers.

    .venv/bin/python bench/run.py            # full run (a few minutes)
    .venv/bin/python bench/run.py --quick    # everything for a few seconds (CI keeps it working)

Starts every system on loopback, seeds refresh tokens through each system's own
code path, drives refresh-token chains with wrk (every response's new refresh
token is used next), and prints one table: refreshes/s, p50/p99, errors, CPU
milliseconds per refresh (server processes and PostgreSQL, apart and together),
peak RSS. Ceilings in the same run: pgbench executing keyturn's refresh
statement, and a trivial endpoint on keyturn's own HTTP stack. Also
introspection throughput, the SDK's hot path and `keyturn serve` start-up.
Needs wrk and pgbench (Debian packages) and a local PostgreSQL; peers are
installed into .cache/ by this script (npm), never vendored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.seed import code_flow_tokens, keyturn_tokens  # noqa: E402
from keyturn.store import _sql as q  # noqa: E402
from tests.support import POSTGRES_URL, REDIS_URL, free_port  # noqa: E402

KEYTURN = [sys.executable, "-m", "keyturn"]
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmn"
REDIRECT = "http://127.0.0.1/cb"
PASSWORD = "bench-password"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    system: str
    connections: int
    requests_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    app_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0
    rss_mb: float = 0.0
    note: str = ""

    @property
    def total_cpu_ms(self) -> float:
        return self.app_cpu_ms + self.db_cpu_ms


# -- processes and CPU -----------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def tree(root: int) -> list[int]:
    """The root process and all its descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = found[0]
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in members:
                members.add(child)
                frontier.append(child)
    return sorted(members)


def named_pids(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_seconds(pids: list[int]) -> float:
    return sum(found[1] for pid in pids if (found := _stat(pid)) is not None)


def _reaped_children_seconds(pid: int) -> float:
    """CPU of a process's children that have exited (cutime + cstime)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / TICKS


def database_cpu_seconds(kind: str = "postgres") -> float:
    """All PostgreSQL processes, including backends that exited during the run (their
    CPU is added to the postmaster's reaped-children counters); or the Redis server."""
    if kind == "redis":
        return cpu_seconds(named_pids("redis-server"))
    pids = named_pids("postgres")
    parents = {pid: found[0] for pid in pids if (found := _stat(pid)) is not None}
    postmasters = [pid for pid, parent in parents.items() if parent not in parents]
    return cpu_seconds(pids) + sum(_reaped_children_seconds(pid) for pid in postmasters)


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(
    command: list[str], env: dict[str, str], cwd: Path | None = None, ready: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            if ready:
                wait_http(ready)
            yield proc
        finally:
            for pid in reversed(tree(proc.pid)):
                with suppress(ProcessLookupError):
                    os.kill(pid, 15)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- databases -------------------------------------------------------------------


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"keyturn_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- load --------------------------------------------------------------------------


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
    import base64

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
    line = next(line for line in out.splitlines() if line.startswith("KT_RESULT"))
    values = dict(part.split("=") for part in line.split()[1:])
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


# -- systems -----------------------------------------------------------------------


def keyturn_cli(database: str, data_dir: Path, *args: str) -> dict[str, str]:
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY}
    out = subprocess.run(
        [*KEYTURN, *args, "--database", database, "--data-dir", str(data_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    parsed: dict[str, str] = json.loads(out)
    return parsed


def serve_command(port: int, database: str, data: Path, workers: int = 1) -> list[str]:
    return [
        *KEYTURN,
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


def keyturn_app(database: str, data: Path, *client_options: str) -> tuple[tuple[str, str], str]:
    """A confidential client and a user with a password, made with the keyturn CLI."""
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
            *KEYTURN,
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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth, email = keyturn_app(database, data)
    command = serve_command(port, database, data, workers)
    with process(command, {"KEYTURN_SECRET_KEY": SECRET_KEY}, ready=f"{base}/healthz") as proc:
        pool = asyncio.run(
            keyturn_tokens(base, *auth, f"http://127.0.0.1:{port}/cb", email, PASSWORD, tokens)
        )
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
                measure(
                    f"{label} trivial endpoint (ceiling)",
                    conns[0],
                    lambda: tree(proc.pid),
                    lambda: wrk(base, [], auth, conns[0], seconds, "trivial"),
                    with_db=False,
                )
            )
    shutil.rmtree(data, ignore_errors=True)
    return rows


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
                lambda c=connections: wrk(base, pool, auth, c, seconds, path=path),
                with_db=with_db,
            )
        )
    return rows


def bench_oidc_provider(
    label: str, adapter: str, conns: list[int], seconds: float, tokens: int
) -> list[Row]:
    """node oidc-provider in memory (its best case) or on Redis (redis_adapter.mjs)."""
    from tests.client.test_interop_oidc_provider import install_oidc_provider

    folder = install_oidc_provider()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PORT": str(port),
        "CLIENT_ID": "bench",
        "ACCESS_TTL": "43200",
        "CLIENT_SECRET": "bench-secret-0123456789-abcdefghij",
        "REDIRECT_URI": REDIRECT,
        "ADAPTER": adapter,
        "NODE_ENV": "production",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"oidc-bench-{uuid.uuid4().hex[:8]}:",
    }
    auth = ("bench", env["CLIENT_SECRET"])
    with process(
        ["node", "oidc_provider_server.mjs"],
        env,
        cwd=folder,
        ready=f"{base}/.well-known/openid-configuration",
    ) as proc:
        pool = asyncio.run(
            code_flow_tokens(
                f"{base}/auth",
                f"{base}/token",
                *auth,
                REDIRECT,
                tokens,
                "openid offline_access",
                prompt="consent",
            )
        )
        return chains(
            label,
            conns,
            lambda: tree(proc.pid),
            base,
            pool,
            auth,
            seconds,
            "/token",
            with_db="redis" if adapter == "redis" else False,
        )


PEERS_VENV = ROOT / ".cache" / "peers-venv"
PEER_PACKAGES = [
    "flask",
    "authlib",
    "sqlalchemy",
    "psycopg2-binary",
    "gunicorn",
    "django",
    "django-oauth-toolkit",
    "matplotlib",
]


def peers_python() -> Path:
    """A virtual environment under .cache/ with the Python peers (pip, never vendored)."""
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / "installed.txt"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    if not stamp.exists() or stamp.read_text() != " ".join(PEER_PACKAGES):
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
        stamp.write_text(" ".join(PEER_PACKAGES))
    return python


def bench_python_peer(
    label: str,
    script: str,
    wsgi_app: str,
    authorize_path: str,
    token_path: str,
    scope: str,
    conns: list[int],
    seconds: float,
    tokens: int,
    workers: int = 2,
    **extra_env: str,
) -> list[Row]:
    """A WSGI peer from bench/peers under gunicorn on its own PostgreSQL database."""
    python = peers_python()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = ("bench", "bench-secret-0123456789-abcdefghij")
    peers = ROOT / "bench" / "peers"
    with fresh_database() as url:
        env = {
            "DATABASE_URL": url,
            "CLIENT_ID": auth[0],
            "CLIENT_SECRET": auth[1],
            "REDIRECT_URI": REDIRECT,
            **extra_env,
        }
        subprocess.run([str(python), script], cwd=peers, check=True, env={**os.environ, **env})
        gunicorn = [
            str(python),
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            wsgi_app,
        ]
        with process(gunicorn, env, cwd=peers, ready=f"{base}{token_path}") as proc:
            pool = asyncio.run(
                code_flow_tokens(
                    f"{base}{authorize_path}", f"{base}{token_path}", *auth, REDIRECT, tokens, scope
                )
            )
            return chains(
                label,
                conns,
                lambda: tree(proc.pid),
                base,
                pool,
                auth,
                seconds,
                token_path,
                with_db=True,
            )


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


# keyturn's refresh statement with one grant per statement: the ceiling of one
# refresh per round trip. Literals stand in for the parameters, and the
# presented-generation test becomes always true because pgbench cannot follow chains.
_PGBENCH_VALUES = {
    "1": "ARRAY[decode(lpad(to_hex(:n::bigint), 32, '0'), 'hex')]",
    "2": "ARRAY['bench']",
    "3": "ARRAY[0]",
    "4": "ARRAY[1e9]",
    "5": "ARRAY[1]",
    "6": "ARRAY[NULL]",
    "7": "ARRAY[1e10]",
    "8": "ARRAY[0]",
    "9": "ARRAY['127.0.0.1']",
}


def pgbench_script(count: int) -> str:
    sql = q.ADVANCE_REFRESH_BATCH.replace(
        "g.refresh_generation = a.generation", "g.refresh_generation >= a.generation"
    )
    sql = re.sub(r"\$(\d)::", lambda m: f"{_PGBENCH_VALUES[m[1]]}::", sql)
    return f"\\set n random(1, {count})\n{sql};\n"


def bench_pgbench(conns: list[int], seconds: float, count: int = 5000) -> list[Row]:
    """The database's own limit for keyturn's refresh statement, same concurrency."""
    rows = []
    with fresh_database() as url:
        subprocess.run(
            [*KEYTURN, "migrate", "--database", url, "--data-dir", tempfile.mkdtemp()],
            check=True,
            capture_output=True,
            env={**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY},
        )

        async def seed() -> None:
            conn = await asyncpg.connect(url)
            await conn.execute("""INSERT INTO clients (client_id, name, access_ttl, refresh_ttl,
                created_at) VALUES ('bench', 'bench', 43200, 630720000, 0)""")
            await conn.execute(f"""INSERT INTO grants (grant_id, client_id, scope, access_scope,
                created_at, expires_at, access_expires_at, rotated_at, last_used_at, has_refresh)
                SELECT decode(lpad(to_hex(n), 32, '0'), 'hex'), 'bench', 'offline_access',
                'offline_access', 0, 2e9, 2e9, 0, 0, true FROM generate_series(1, {count}) n""")
            await conn.close()

        asyncio.run(seed())
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(pgbench_script(count))
        for connections in conns:
            before = database_cpu_seconds()
            out = subprocess.run(
                [
                    "pgbench",
                    "-n",
                    "-M",
                    "prepared",
                    "-c",
                    str(connections),
                    "-j",
                    "2",
                    "-T",
                    str(max(1, int(seconds))),
                    "-f",
                    script.name,
                    url,
                ],
                capture_output=True,
                text=True,
            )
            text = out.stdout + out.stderr
            tps = next(
                (
                    float(line.split("=")[1].split()[0])
                    for line in text.splitlines()
                    if line.startswith("tps")
                ),
                0.0,
            )
            latency = next(
                (
                    float(line.split("=")[1].split()[0])
                    for line in text.splitlines()
                    if line.startswith("latency average")
                ),
                0.0,
            )
            done = next(
                (
                    int(line.split(":")[1].split()[0])
                    for line in text.splitlines()
                    if "number of transactions actually processed" in line
                ),
                1,
            )
            db_cpu = database_cpu_seconds() - before
            rows.append(
                Row(
                    "pgbench: keyturn refresh SQL (ceiling)",
                    connections,
                    tps,
                    latency,
                    0.0,
                    0,
                    0.0,
                    db_cpu * 1000 / max(1, done),
                    0.0,
                    "p50 column is pgbench's average latency",
                )
            )
        os.unlink(script.name)
    return rows


# -- smaller figures -------------------------------------------------------------


def startup_seconds(database: str) -> float:
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


def sdk_hot_path(rounds: int) -> tuple[float, float]:
    """Median microseconds per access_token() with a valid cached token: sync, async."""
    from keyturn.client import AsyncTokenManager, TokenManager

    response = {"access_token": "kta_x", "expires_in": 43200, "refresh_token": "ktr_y"}
    calls = 20_000
    with TokenManager(
        token_endpoint="http://127.0.0.1:9/token", client_id="c", store="memory", cache_seconds=3600
    ) as tm:
        tm.save("a", response)
        sync_samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                tm.access_token("a")
            sync_samples.append((time.perf_counter() - started) / calls * 1e6)

    async def run_async() -> list[float]:
        atm = AsyncTokenManager(
            token_endpoint="http://127.0.0.1:9/token",
            client_id="c",
            store="memory",
            cache_seconds=3600,
        )
        await atm.save("a", response)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                await atm.access_token("a")
            samples.append((time.perf_counter() - started) / calls * 1e6)
        await atm.aclose()
        return samples

    return statistics.median(sync_samples), statistics.median(asyncio.run(run_async()))


def sdk_storm(processes: int = 8, threads: int = 32) -> tuple[int, float]:
    """The SDK's refresh storm: how many refreshes reach the server for one expiry, and
    seconds from the token falling due until every caller holds the new one."""
    import re

    from keyturn.client import AsyncTokenManager

    data = Path(tempfile.mkdtemp(prefix="kt-storm-"))
    database = f"sqlite:///{data / 'server.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth, email = keyturn_app(database, data, "--access-ttl", "4")
    keys = ["storm-benchmark-key-0123456789-abcdefgh"]
    store = f"sqlite:///{data / 'sdk.db'}"
    counted = re.compile(r'keyturn_token_requests_total\{grant_type="refresh_token",[^}]*\} (\S+)')

    def refreshes() -> float:
        return sum(float(v) for v in counted.findall(httpx.get(f"{base}/metrics").text))

    command = serve_command(port, database, data)
    with process(command, {"KEYTURN_SECRET_KEY": SECRET_KEY}, ready=f"{base}/healthz"):
        seed = asyncio.run(
            keyturn_tokens(base, *auth, f"http://127.0.0.1:{port}/cb", email, PASSWORD, 1)
        )[0]
        response = httpx.post(
            f"{base}/oauth/token",
            auth=auth,
            data={"grant_type": "refresh_token", "refresh_token": seed},
        ).json()

        async def save() -> float:
            manager = AsyncTokenManager(
                issuer=base,
                client_id=auth[0],
                client_secret=auth[1],
                store=store,
                encryption_keys=keys,
            )
            record = await manager.save("storm", response)
            await manager.aclose()
            assert record.refresh_at is not None
            return record.refresh_at

        due = asyncio.run(save())
        before = refreshes()
        options = {
            "issuer": base,
            "client_id": auth[0],
            "client_secret": auth[1],
            "store": store,
            "keys": keys,
            "account": "storm",
            "threads": threads,
            "initial": response["access_token"],
            "seconds": 30,
        }
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.client.storm_child", json.dumps(options)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(processes)
        ]
        reports = [
            json.loads(child.communicate(timeout=120)[0].splitlines()[-1]) for child in children
        ]
        reached = int(refreshes() - before)
    shutil.rmtree(data, ignore_errors=True)
    return reached, max(report["done_at"] for report in reports) - due


# -- report ----------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = (
        "| system | conns | refreshes/s | p50 ms | p99 ms | errors | app CPU ms/op "
        "| DB CPU ms/op | total CPU ms/op | peak RSS MB |"
    )
    lines = [header, "|" + " --- |" * 10]
    for r in rows:
        lines.append(
            f"| {r.system} | {r.connections} | {r.requests_per_s:,.0f} | "
            f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.app_cpu_ms:.3f} | "
            f"{r.db_cpu_ms:.3f} | {r.total_cpu_ms:.3f} | {r.rss_mb:.0f} |"
        )
    return "\n".join(lines)


CHART = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows, path, conns = json.load(sys.stdin), sys.argv[1], sys.argv[2]
names = [r[0] for r in rows]
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.5 * len(rows) + 1.5))
left.barh(names, [r[1] for r in rows], color="#0b5cad")
left.set_xlabel("successful refreshes per second (higher is better)")
left.invert_yaxis()
right.barh(names, [r[2] for r in rows], color="#a40e26")
right.set_xlabel("CPU ms per refresh, server + database (lower is better)")
right.set_yticks([])
right.invert_yaxis()
fig.suptitle(f"Refresh-token rotation, {conns} connections, one 2-core machine")
fig.tight_layout()
fig.savefig(path, dpi=100)
"""


def chart(rows: list[Row], path: Path) -> None:
    """A bar chart of the table (matplotlib from the peers' venv, not a keyturn dependency)."""
    conns = max(r.connections for r in rows)
    chosen = [
        (r.system, r.requests_per_s, r.total_cpu_ms)
        for r in rows
        if r.connections == conns and "introspection" not in r.system and "trivial" not in r.system
    ]
    subprocess.run(
        [str(peers_python()), "-c", CHART, str(path), str(conns)],
        input=json.dumps(chosen),
        text=True,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (for CI)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "benchmarks.png")
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    seconds, tokens = (2.0, 150) if args.quick else (args.seconds, args.tokens)
    conns = [16] if args.quick else [16, 64]
    rows: list[Row] = []
    print(
        f"# keyturn benchmark ({'quick' if args.quick else 'full'}): {seconds:.0f} s per run, "
        f"{tokens} seeded refresh tokens per run, {os.cpu_count()} cores",
        flush=True,
    )

    with fresh_database() as database:
        rows += bench_keyturn(
            "keyturn PostgreSQL, 1 worker", database, 1, conns, seconds, tokens, introspect=True
        )
    with fresh_database() as database:
        rows += bench_keyturn("keyturn PostgreSQL, 2 workers", database, 2, conns, seconds, tokens)
    sqlite = Path(tempfile.mkdtemp(prefix="kt-sqlite-")) / "keyturn.db"
    rows += bench_keyturn(
        "keyturn SQLite, 1 worker", f"sqlite:///{sqlite}", 1, conns, seconds, tokens
    )
    rows += bench_pgbench(conns, seconds)
    if not args.skip_peers:
        rows += bench_oidc_provider(
            "node oidc-provider, in-memory", "memory", conns, seconds, tokens
        )
        if not args.quick:
            rows += bench_oidc_provider(
                "node oidc-provider, Redis", "redis", conns, seconds, tokens
            )
            rows += bench_authlib(conns, seconds, tokens)
            rows += bench_dot(conns, seconds, tokens, hashed=False)
            # About 3 refreshes a second: a short run and few tokens say enough.
            rows += bench_dot(conns[:1], min(seconds, 10), 60, hashed=True)
    print(table(rows), flush=True)

    with fresh_database() as database:
        startup_pg = startup_seconds(database)
    startup_sqlite = startup_seconds(f"sqlite:///{tempfile.mkdtemp()}/k.db")
    sync_us, async_us = sdk_hot_path(3 if args.quick else 7)
    reached, settle = sdk_storm(4 if args.quick else 8, 8 if args.quick else 32)
    print(
        f"\nkeyturn serve to first /healthz 200: SQLite {startup_sqlite:.2f} s, "
        f"PostgreSQL {startup_pg:.2f} s"
    )
    print(
        f"SDK access_token() with a valid cached token: sync {sync_us:.2f} us, "
        f"async {async_us:.2f} us (median of rounds of 20,000 calls)"
    )
    print(
        f"SDK refresh storm ({4 if args.quick else 8} processes x {8 if args.quick else 32} "
        f"threads, SQLite store): {reached} refresh(es) reached the server for one expiry; "
        f"every caller held the new token {settle:.2f} s after it fell due"
    )
    if not args.quick:
        chart(rows, args.chart)
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
