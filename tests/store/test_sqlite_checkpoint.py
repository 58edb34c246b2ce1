"""The serving SQLite store checkpoints its WAL from a background thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from keyturn.store import open_store
from tests.store.test_contract import make_client, make_user, new_grant


def _checkpoint_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "keyturn-checkpoint"]


async def test_the_wal_reaches_the_database_file_without_a_commit_paying_for_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keyturn.db"
    store = await open_store(f"sqlite:///{path}")  # a serving store
    try:
        await store.migrate()
        await store.create_client(make_client())
        await store.create_user(make_user())
        await asyncio.sleep(1.5)  # let the schema reach the file first
        size_before = path.stat().st_size
        for _ in range(500):
            await store.create_grant(new_grant())
        # Commits no longer checkpoint (wal_autocheckpoint is 0 on the serving
        # connection), so only the background thread can grow the main file.
        for _ in range(50):
            if path.stat().st_size > size_before:
                break
            await asyncio.sleep(0.1)
        assert path.stat().st_size > size_before
        assert len(_checkpoint_threads()) == 1
    finally:
        await store.close()
    assert _checkpoint_threads() == []


async def test_one_shot_commands_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'keyturn.db'}", listen=False)
    try:
        assert _checkpoint_threads() == []
    finally:
        await store.close()
