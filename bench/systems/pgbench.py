"""The pgbench ceiling: PostgreSQL executing keyturn's own refresh statement at the
same concurrency, its CPU read the same way as for the systems."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile

import asyncpg

from bench.common import KEYTURN, SECRET_KEY, Row
from bench.cpu import database_cpu_seconds
from bench.databases import fresh_database
from keyturn.store import _sql as q

# keyturn's refresh statement with one grant per statement: the ceiling of one
# refresh per round trip. Literals stand in for the parameters, and the
# presented-generation test becomes always true because pgbench cannot follow chains.
_PGBENCH_VALUES = {
    "1": "ARRAY[lpad(to_hex(:n::bigint), 32, '0')::uuid]",
    "2": "ARRAY['bench']",
    "3": "ARRAY[0]",
    "4": "ARRAY[1e9]",
    "5": "ARRAY[1]",
    "6": "ARRAY[NULL]",
    "7": "ARRAY[1e10]",
    "8": "ARRAY[0]",
    "9": "ARRAY['127.0.0.1']",
    "10": "ARRAY[1]",
}


def pgbench_script(count: int) -> str:
    sql = q.ADVANCE_ROTATION_BATCH.replace(
        "g.refresh_generation = a.generation", "g.refresh_generation >= a.generation"
    )
    sql = re.sub(r"\$(\d+)::", lambda m: f"{_PGBENCH_VALUES[m[1]]}::", sql)
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
            await conn.execute(f"""INSERT INTO grants (grant_id, client_id, scope,
                created_at, expires_at, access_expires_at, rotated_at, last_used_at, has_refresh)
                SELECT lpad(to_hex(n), 32, '0')::uuid, 'bench', 'offline_access',
                0, 2e9, 2e9, 0, 0, true FROM generate_series(1, {count}) n""")
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
