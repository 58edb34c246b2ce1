"""Constants every part of the benchmark shares, and one row of the printed table."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYTURN = [sys.executable, "-m", "keyturn"]
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmn"
REDIRECT = "http://127.0.0.1/cb"
PASSWORD = "bench-password"


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
