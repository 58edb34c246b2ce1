"""The cost of growth: refreshes with millions of grants in the table.

    .venv/bin/python bench/growth.py                       # 10,000,000 grants
    .venv/bin/python bench/growth.py --grants 1000000 --sustain 60 --gc 100000

One PostgreSQL database, one keyturn instance. First the refresh chains run on a
table of only their own 3,000 grants; then the table is filled with GRANTS more
(seeded in SQL, in the shape keyturn writes them, for a million users) and the
same chains run again, side by side in one run. Then: bytes of table and indexes
per grant, the table's size and dead tuples after SUSTAIN seconds of refreshes
(with the share of HOT updates), and `keyturn gc` purging GC expired grants while
the chains keep refreshing (their p99 during the purge against before it).

The sustained refreshes run in slices of SLICE seconds, each with its own rate and
p99 and a line saying what PostgreSQL did meanwhile (checkpoints begun, WAL
written, autovacuum and autoanalyze runs on the grants table, and whether one was
still running when the slice ended), so that a slow tail can be told apart from
the database's own housekeeping.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench import common  # noqa: E402
from bench.common import SECRET_KEY, Row  # noqa: E402
from bench.databases import fresh_database  # noqa: E402
from bench.load import chains, measure, wrk  # noqa: E402
from bench.processes import tree  # noqa: E402
from bench.report import table  # noqa: E402
from bench.systems.keyturn import keyturn_app, keyturn_server  # noqa: E402
from keyturn.config import Secret, Settings  # noqa: E402
from keyturn.oauth.tokens import mint_refresh_token  # noqa: E402
from keyturn.runtime import open_context  # noqa: E402

CHAINS = 3000
USERS = 1_000_000
BATCH = 1_000_000
YEAR = 365 * 24 * 3600.0
SCOPE = "offline_access"


async def chain_tokens(database: str, client_id: str, count: int) -> list[str]:
    """`count` live grants of the bench user, and refresh tokens minted for them with
    the server's own keyring (as the code flow would have issued them)."""
    ctx = await open_context(
        Settings(database=database, secret_key=Secret(SECRET_KEY)), create=False
    )
    try:
        connection = await asyncpg.connect(database)
        try:
            user_id = await connection.fetchval("SELECT user_id FROM users LIMIT 1")
            now = time.time()
            ids = [os.urandom(16) for _ in range(count)]
            await connection.copy_records_to_table(
                "grants",
                records=[
                    (
                        uuid.UUID(bytes=g),
                        client_id,
                        user_id,
                        SCOPE,
                        now,
                        now,
                        now + 20 * YEAR,
                        now + 3600,
                        now,
                        now,
                        True,
                    )
                    for g in ids
                ],
                columns=[
                    "grant_id",
                    "client_id",
                    "user_id",
                    "scope",
                    "auth_time",
                    "created_at",
                    "expires_at",
                    "access_expires_at",
                    "rotated_at",
                    "last_used_at",
                    "has_refresh",
                ],
            )
        finally:
            await connection.close()
        return [mint_refresh_token(ctx.keys.ring, g, 0) for g in ids]
    finally:
        await ctx.store.close()


async def fill(database: str, client_id: str, grants: int, expired: int) -> float:
    """USERS users and `grants` grants spread over them, the first `expired` of them
    expired long ago, one every 10 ms (for the purge); seconds it took."""
    started = time.monotonic()
    connection = await asyncpg.connect(database)
    try:
        await connection.execute(
            "INSERT INTO users (user_id, email, created_at)"
            " SELECT md5('u' || i), 'u' || i || '@example.com', extract(epoch from now())"
            f" FROM generate_series(1, {USERS}) AS i"
        )
        for start in range(0, grants, BATCH):
            end = min(grants, start + BATCH)
            await connection.execute(
                "INSERT INTO grants (grant_id, client_id, user_id, scope,"
                " auth_time, created_at, expires_at, refresh_generation, access_generation,"
                " access_expires_at, rotated_at, last_used_at, last_ip, has_refresh,"
                " window_start, window_count)"
                " SELECT md5('g' || i)::uuid, $1, md5('u' || (i % $2 + 1)), $3,"
                " t - 86400, t - 86400,"
                " CASE WHEN i <= $4 THEN t - 400 * 86400 + i * 0.01 ELSE t + $5 END,"
                " 7, 7, t + 3600, t - 60, t - 60, ('203.0.113.' || (i % 250))::inet, TRUE,"
                " t - 60, 1"
                " FROM generate_series($6::bigint, $7::bigint) AS i,"
                " (SELECT extract(epoch from now()) AS t) AS clock",
                client_id,
                USERS,
                SCOPE,
                expired,
                20 * YEAR,
                start + 1,
                end,
            )
            print(f"  {end:,} grants", flush=True)
        await connection.execute("VACUUM ANALYZE grants")
        await connection.execute("VACUUM ANALYZE users")
        # Seeding and its VACUUM leave gigabytes of dirty pages that the system
        # writes out over the next minutes, and a commit waits behind that writing:
        # measured without this, p99 was 200-280 ms in the first 10-25 s after
        # seeding and 20-33 ms after. A table in service has no such backlog.
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
    return time.monotonic() - started


async def _counters(database: str, sql: str) -> dict[str, float]:
    """The one row `sql` returns, as numbers by column name."""
    connection = await asyncpg.connect(database)
    try:
        row = await connection.fetchrow(sql)
        assert row is not None
        return {key: float(row[key]) for key in row.keys()}  # noqa: SIM118 (a Record)
    finally:
        await connection.close()


async def sizes(database: str) -> dict[str, float]:
    return await _counters(
        database,
        "SELECT (SELECT count(*) FROM grants) AS n,"
        " pg_relation_size('grants') AS heap,"
        " pg_indexes_size('grants') AS indexes,"
        " pg_total_relation_size('grants') AS total,"
        " s.n_dead_tup AS dead, s.n_tup_upd AS updates, s.n_tup_hot_upd AS hot"
        " FROM pg_stat_user_tables s WHERE s.relname = 'grants'",
    )


async def housekeeping(database: str) -> dict[str, float]:
    """PostgreSQL's counters of the work it does by itself, for differences."""
    return await _counters(
        database,
        "SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)"
        " AS checkpoints, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal,"
        " s.autovacuum_count AS vacuums, s.autoanalyze_count AS analyzes,"
        " (SELECT count(*) FROM pg_stat_progress_vacuum p WHERE p.relid = s.relid)"
        " AS vacuuming"
        " FROM pg_stat_user_tables s WHERE s.relname = 'grants'",
    )


def meanwhile(before: dict[str, float], after: dict[str, float]) -> str:
    running = " (one still running)" if after["vacuuming"] else ""
    return (
        f"checkpoints begun {after['checkpoints'] - before['checkpoints']:.0f},"
        f" WAL {(after['wal'] - before['wal']) / 2**20:,.0f} MiB,"
        f" autovacuums {after['vacuums'] - before['vacuums']:.0f}{running},"
        f" autoanalyzes {after['analyzes'] - before['analyzes']:.0f}"
    )


def describe(label: str, found: dict[str, float]) -> str:
    n = max(1.0, found["n"])
    hot = found["hot"] / found["updates"] if found["updates"] else 0.0
    return (
        f"{label}: {found['n']:,.0f} grants, table {found['heap'] / 2**20:,.0f} MiB +"
        f" indexes {found['indexes'] / 2**20:,.0f} MiB = {found['total'] / n:.0f} bytes a"
        f" grant ({found['heap'] / n:.0f} + {found['indexes'] / n:.0f}); dead tuples"
        f" {found['dead']:,.0f}; HOT updates {hot:.0%} of {found['updates']:,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--grants", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--sustain", type=float, default=600)
    parser.add_argument("--slice", type=float, default=10, help="seconds a sustained slice")
    parser.add_argument("--gc", type=int, default=1_000_000, help="expired grants to purge")
    args = parser.parse_args()
    print(f"# growth: {args.grants:,} grants, {os.cpu_count()} cores", flush=True)
    rows: list[Row] = []
    with fresh_database() as database:
        data = Path(tempfile.mkdtemp(prefix="kt-growth-"))
        auth, _ = keyturn_app(database, data)
        pool = asyncio.run(chain_tokens(database, auth[0], CHAINS))
        # The server's own purge would take the expired grants before `keyturn gc` does.
        env = {"KEYTURN_GC_INTERVAL": "86400"}
        with keyturn_server(database, data, env=env) as (proc, base):
            pids = lambda: tree(proc.pid)  # noqa: E731
            rows += chains(
                f"{CHAINS:,} grants",
                [16, 64],
                pids,
                base,
                pool,
                auth,
                args.seconds,
                "/oauth/token",
                True,
            )
            print(describe("small", asyncio.run(sizes(database))), flush=True)
            took = asyncio.run(fill(database, auth[0], args.grants, args.gc))
            print(f"seeded {args.grants:,} grants in {took:.0f} s", flush=True)
            grown = asyncio.run(sizes(database))
            print(describe("seeded", grown), flush=True)
            label = f"{args.grants + CHAINS:,} grants"
            rows += chains(
                label, [16, 64], pids, base, pool, auth, args.seconds, "/oauth/token", True
            )
            if args.sustain:
                slices = max(1, round(args.sustain / args.slice))
                for n in range(slices):
                    before = asyncio.run(housekeeping(database))
                    row = measure(
                        f"{label}, sustained {n * args.slice:.0f}-{(n + 1) * args.slice:.0f} s",
                        64,
                        pids,
                        lambda: wrk(base, pool, auth, 64, args.slice),
                    )
                    rows.append(row)
                    done = meanwhile(before, asyncio.run(housekeeping(database)))
                    print(f"{row.system}: p99 {row.p99_ms:.1f} ms; {done}", flush=True)
                after = asyncio.run(sizes(database))
                print(describe("after the sustained run", after), flush=True)
                print(f"table size after / before: {after['heap'] / grown['heap']:.3f}")
            rows.append(
                measure(
                    f"{label}, before the purge",
                    16,
                    pids,
                    lambda: wrk(base, pool, auth, 16, args.seconds),
                )
            )
            purge = subprocess.Popen(
                [*common.KEYTURN, "gc", "--database", database, "--data-dir", str(data), "--json"],
                env={**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY, **env},
                stdout=subprocess.PIPE,
                text=True,
            )
            started = time.monotonic()
            rows.append(
                measure(
                    f"{label}, during the purge",
                    16,
                    pids,
                    lambda: wrk(base, pool, auth, 16, args.seconds),
                )
            )
            out, _ = purge.communicate()
            if purge.returncode != 0:
                raise SystemExit(f"keyturn gc failed ({purge.returncode}); see above")
            print(
                f"keyturn gc: {out.strip()} in {time.monotonic() - started:.0f} s"
                " (from the start of the run beside it)",
                flush=True,
            )
    print(table(rows), flush=True)
    print(f"run id {uuid.uuid4().hex[:8]}")


if __name__ == "__main__":
    main()
