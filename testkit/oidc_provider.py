"""node oidc-provider, installed from npm into .cache/ (never vendored).

The scripts it runs (tests/interop/*.mjs) and its package.json are data files
read from tests/interop; nothing here is imported from the test suite.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "tests" / "interop"
CACHE = ROOT / ".cache" / "oidc-provider"


class NodeMissing(RuntimeError):
    """node or npm is not installed."""


def install_oidc_provider() -> Path:
    """npm install into the cache folder once; returns the folder to run node in.

    Raises NodeMissing when node or npm is not on PATH (the tests turn that into a
    skip, or a failure in CI).
    """
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise NodeMissing("node and npm are needed for the oidc-provider interop tests")
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = (INTEROP / "package.json").read_text()
    installed = CACHE / "package.json"
    if not (CACHE / "node_modules" / "oidc-provider").exists() or (
        not installed.exists() or installed.read_text() != wanted
    ):
        installed.write_text(wanted)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CACHE,
            check=True,
            capture_output=True,
            timeout=600,
        )
    for script in INTEROP.glob("*.mjs"):
        shutil.copy(script, CACHE / script.name)
    return CACHE
