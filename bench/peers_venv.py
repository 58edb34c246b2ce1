"""The Python peers' virtual environment under .cache/ (pip, never vendored)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.common import ROOT

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
