"""Two keyturn builds (or two settings of this one) side by side, alternating runs.

    .venv/bin/python bench/compare.py --against /path/to/other/venv/bin/python
    .venv/bin/python bench/compare.py --access-log   # JSON access log on vs off
    .venv/bin/python bench/compare.py --against … --workers 2 --connections 16 64 256

The other build is any keyturn installed in another interpreter (for example a
worktree of an older commit with its own virtual environment). Runs alternate
between the two builds (A B A B …) so that a drift of this shared machine's
speed hits both alike; the table prints every run and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench import common  # noqa: E402
from bench.common import Row  # noqa: E402
from bench.databases import fresh_database  # noqa: E402
from bench.report import table  # noqa: E402
from bench.systems import keyturn as keyturn_system  # noqa: E402

Build = tuple[str, dict[str, str]]  # an interpreter, and the environment of its servers


def run_build(
    build: Build, label: str, conns: list[int], seconds: float, tokens: int, workers: int
) -> list[Row]:
    python, env = build
    # -P: not the working directory's keyturn package, the one installed for `python`.
    common.KEYTURN = [python, "-P", "-m", "keyturn"]  # the CLI and `keyturn serve` of it
    os.environ.update(env)  # the servers inherit it
    with fresh_database() as database:
        return keyturn_system.bench_keyturn(label, database, workers, conns, seconds, tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--against", help="the other build's python")
    choice.add_argument(
        "--access-log", action="store_true", help="this build: JSON access log on vs off"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="of each server")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    conns = args.connections
    builds: dict[str, Build]
    if args.access_log:
        builds = {
            "this build": (
                sys.executable,
                {"KEYTURN_LOG_FORMAT": "json", "KEYTURN_ACCESS_LOG": "true"},
            ),
            "other build": (sys.executable, {"KEYTURN_ACCESS_LOG": "false"}),
        }
        print("# this build = JSON access log on; other build = access log off")
    else:
        builds = {"this build": (sys.executable, {}), "other build": (args.against, {})}
    rows: list[Row] = []
    for round_number in range(args.rounds):
        for label, build in builds.items():
            print(f"# round {round_number + 1}: {label}", flush=True)
            rows += run_build(build, label, conns, args.seconds, args.tokens, args.workers)
    print(table(rows))
    print("\nmedians (refreshes/s; app+db CPU ms per refresh):")
    for label in builds:
        for connections in conns:
            mine = [r for r in rows if r.system == label and r.connections == connections]
            rate = statistics.median(r.requests_per_s for r in mine)
            cpu = statistics.median(r.total_cpu_ms for r in mine)
            print(f"  {label:12} {connections:3} connections: {rate:8.0f}/s  {cpu:.3f} ms")
    for connections in conns:
        ratio = statistics.median(
            r.requests_per_s
            for r in rows
            if r.system == "this build" and r.connections == connections
        ) / statistics.median(
            r.requests_per_s
            for r in rows
            if r.system == "other build" and r.connections == connections
        )
        print(f"  this/other at {connections} connections: {ratio:.2f}")


if __name__ == "__main__":
    main()
