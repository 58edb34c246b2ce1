"""One worker against two, side by side: refresh chains on PostgreSQL.

    .venv/bin/python bench/workers.py                    # 1, 2, 1, 2 workers; 8 s each
    .venv/bin/python bench/workers.py --rounds 3 --seconds 5

Each round starts `keyturn serve --workers N` on a fresh database for each N in
turn and runs the refresh chains at 16, 64 and 256 connections, so the two
configurations alternate and drift in the machine's speed falls on both. The
table gives each round's rate and CPU (keyturn's processes and PostgreSQL's) per
refresh; the summary the median rate of each configuration and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench.common import Row  # noqa: E402
from bench.databases import fresh_database  # noqa: E402
from bench.report import table  # noqa: E402
from bench.systems.keyturn import bench_keyturn  # noqa: E402

CONNECTIONS = [16, 64, 256]
TOKENS = 3000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"# workers {args.workers}, {args.rounds} rounds, {os.cpu_count()} cores", flush=True)
    rows: list[Row] = []
    rates: dict[tuple[int, int], list[float]] = {}
    for round_ in range(1, args.rounds + 1):
        for workers in args.workers:
            with fresh_database() as database:
                label = f"{workers} worker{'s' if workers > 1 else ''}, round {round_}"
                found = bench_keyturn(label, database, workers, CONNECTIONS, args.seconds, TOKENS)
            rows += found
            for row in found:
                rates.setdefault((workers, row.connections), []).append(row.requests_per_s)
    print(table(rows) + "\n")
    first = args.workers[0]
    for conns in CONNECTIONS:
        base = statistics.median(rates[(first, conns)])
        cells = [f"{w} workers {statistics.median(rates[(w, conns)]):,.0f}/s" for w in args.workers]
        ratios = [f"{statistics.median(rates[(w, conns)]) / base:.2f}" for w in args.workers[1:]]
        print(f"{conns} connections: {', '.join(cells)}; ratio to {first}: {', '.join(ratios)}")


if __name__ == "__main__":
    main()
