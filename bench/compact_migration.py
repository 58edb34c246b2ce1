"""How long the compact-grants rewrite (migration 0010) holds the grants table.

    .venv/bin/python bench/compact_migration.py --grants 1000000
    .venv/bin/python bench/compact_migration.py --grants 10000000

A throw-away PostgreSQL database is migrated to 0009 and filled with GRANTS grants
in the shape a keyturn of that schema leaves them after two refreshes (ten a user,
as in bench/growth.py, the previous network and use set). Then migration 0010 runs
through keyturn's own store, as `keyturn migrate` runs it, and the script prints
how long it took (the table is locked for all of it) and the bytes a grant of
table and indexes before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench.databases import fresh_database  # noqa: E402
from keyturn.store import open_store  # noqa: E402
from keyturn.store import sql as sql_store  # noqa: E402
from keyturn.store.migrations import Migration, load_migrations  # noqa: E402

GRANTS_A_USER = 10
BATCH = 1_000_000
CLIENT = "c_AbCdEfGhIjKlMnOpQrSt"

# Rows as schema 0009 holds them: the scope twice, the address and both networks as
# text, the previous use; one grant in a hundred with a narrowed access scope.
SEED_0009 = (
    "INSERT INTO grants (grant_id, client_id, user_id, scope, access_scope, auth_time,"
    " created_at, expires_at, refresh_generation, access_generation, access_expires_at,"
    " rotated_at, last_used_at, last_ip, has_refresh, network, prev_network, prev_used_at,"
    " window_start, window_count)"
    " SELECT decode(md5('g' || i), 'hex'), $1, md5('u' || (i % $2 + 1)), 'openid offline_access',"
    " CASE WHEN i % 100 = 0 THEN 'openid' ELSE 'openid offline_access' END, t - 86400,"
    " t - 86400, t + 1e8, 7, 7, t + 3600, t - 60, t - 60, '203.0.113.' || (i % 250), TRUE,"
    " '203.0.113.0/24', '198.51.100.0/24', t - 3660, t - 60, 1"
    " FROM generate_series($3::bigint, $4::bigint) AS i,"
    " (SELECT extract(epoch FROM now()) AS t) AS clock"
)
SIZES = (
    "SELECT count(*) AS n, pg_relation_size('grants') AS heap,"
    " pg_indexes_size('grants') AS indexes FROM grants"
)


def up_to_0009(dialect: str) -> list[Migration]:
    return [m for m in load_migrations(dialect) if m.version <= 9]


async def seed(database: str, grants: int) -> None:
    users = max(1, grants // GRANTS_A_USER)
    connection = await asyncpg.connect(database)
    try:
        await connection.execute(
            "INSERT INTO clients (client_id, name, access_ttl, refresh_ttl, created_at)"
            " VALUES ($1, 'bench', 3600, 86400, 0)",
            CLIENT,
        )
        await connection.execute(
            "INSERT INTO users (user_id, email, created_at)"
            " SELECT md5('u' || i), 'u' || i || '@example.com', 0"
            f" FROM generate_series(1, {users}) AS i"
        )
        for start in range(0, grants, BATCH):
            end = min(grants, start + BATCH)
            await connection.execute(SEED_0009, CLIENT, users, start + 1, end)
            print(f"  {end:,} grants", flush=True)
        await connection.execute("VACUUM ANALYZE grants")
    finally:
        await connection.close()


async def sizes(database: str) -> str:
    connection = await asyncpg.connect(database)
    try:
        row = await connection.fetchrow(SIZES)
        assert row is not None
        n = max(1, row["n"])
        return (
            f"{row['n']:,} grants, {(row['heap'] + row['indexes']) / n:.0f} bytes a grant"
            f" ({row['heap'] / n:.0f} table + {row['indexes'] / n:.0f} indexes)"
        )
    finally:
        await connection.close()


async def run(database: str, grants: int) -> None:
    store = await open_store(database, pool_size=2, listen=False)
    try:
        setattr(sql_store, "load_migrations", up_to_0009)  # noqa: B010 (patching a module)
        await store.migrate()
        started = time.monotonic()
        await seed(database, grants)
        print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        print(f"before 0010: {await sizes(database)}", flush=True)
        setattr(sql_store, "load_migrations", load_migrations)  # noqa: B010
        started = time.monotonic()
        applied = await store.migrate()
        took = time.monotonic() - started
        print(f"applied {', '.join(applied)} in {took:.1f} s (the grants table locked)")
        print(f"after 0010:  {await sizes(database)}", flush=True)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--grants", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"# compact migration: {args.grants:,} grants, {os.cpu_count()} cores", flush=True)
    with fresh_database() as database:
        asyncio.run(run(database, args.grants))


if __name__ == "__main__":
    main()
