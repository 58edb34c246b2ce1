"""The benchmark suite keeps working (its --quick mode); CI never judges speed here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_every_system_and_prints_the_table() -> None:
    missing = [tool for tool in ("wrk", "pgbench", "node", "npm") if shutil.which(tool) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true: the benchmark needs {missing}")
        pytest.skip(f"the benchmark needs {missing}")
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    systems = {row.split("|")[1].strip() for row in rows[2:]}
    assert {
        "keyturn PostgreSQL, 1 worker",
        "keyturn SQLite, 1 worker",
        "pgbench: keyturn refresh SQL (ceiling)",
        "node oidc-provider, in-memory",
    } <= systems
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert float(cells[2].replace(",", "")) > 0, f"no successful requests: {row}"
        assert cells[5] == "0", f"errors in {row}"
    assert re.search(r"SDK access_token\(\).*sync [\d.]+ us", result.stdout)
    assert "keyturn serve to first /healthz 200" in result.stdout
