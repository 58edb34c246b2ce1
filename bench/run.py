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
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench.common import Row  # noqa: E402
from bench.databases import fresh_database  # noqa: E402
from bench.report import chart, table  # noqa: E402
from bench.sdk import sdk_hot_path, sdk_storm  # noqa: E402
from bench.systems.authlib import bench_authlib  # noqa: E402
from bench.systems.django_oauth_toolkit import bench_dot  # noqa: E402
from bench.systems.keyturn import bench_keyturn, startup_seconds  # noqa: E402
from bench.systems.oidc_provider import bench_oidc_provider  # noqa: E402
from bench.systems.pgbench import bench_pgbench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
