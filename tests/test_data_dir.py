"""Everything keyturn creates in its data directory is readable by its owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.support import running_server


def modes(folder: Path) -> dict[str, int]:
    found = {str(folder): stat.S_IMODE(folder.stat().st_mode)}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path)] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_serve_creates_only_owner_only_files(tmp_path: Path) -> None:
    os.umask(0o022)  # the usual default, which made every file world-readable
    data_dir = tmp_path / "data"  # made by the test (for the server's log), not by keyturn
    database = f"sqlite:///{data_dir / 'db' / 'keyturn.db'}"
    # Without KEYTURN_SECRET_KEY the embedded default generates its own secret.
    with running_server(database, data_dir, workers=2, unset=("KEYTURN_SECRET_KEY",)) as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        assert httpx.get(f"{server.base_url}/metrics").status_code == 200
        found = modes(data_dir)
    del found[str(data_dir)]
    names = {Path(path).name for path in found}
    assert {"db", "keyturn.db", "keyturn.db-wal", "keyturn.db-shm", "secret_key"} <= names
    # The test's own server log lives there too; it was created by the test, not keyturn.
    loose = {
        path: oct(mode)
        for path, mode in found.items()
        if mode & 0o077 and not Path(path).name.startswith("server-")
    }
    assert loose == {}
