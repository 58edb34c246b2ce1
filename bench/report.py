"""The report: the printed table and the chart (matplotlib from the peers' venv)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.common import Row
from bench.peers_venv import peers_python


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
