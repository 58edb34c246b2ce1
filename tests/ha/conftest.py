"""Fault and failover tests: real PostgreSQL clusters this suite starts and breaks.

They run in their own step (`scripts/test --ha`), not in every `scripts/test`: each
starts etcd and Patroni-managed PostgreSQL nodes, or a PostgreSQL of its own, and
waits out real failover timeouts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.cluster import missing_tools
from tests.support import IN_CI


@pytest.fixture(scope="module")
def cluster_dir() -> Iterator[Path]:
    """A folder the `postgres` user can reach (pytest's own are private to root)."""
    missing = missing_tools()
    if missing:
        message = f"{' '.join(missing)} not installed (apt-get install them)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="keyturn-ha-") as folder:
        Path(folder).chmod(0o755)
        yield Path(folder)
