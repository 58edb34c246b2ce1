"""The embedded default: SQLite in WAL mode, as a dialect of the SQL store.

Calls run synchronously on the event loop thread. A one-row statement on a
local file takes microseconds, less than handing it to a worker thread would,
and it means no two coroutines of one process ever interleave inside a
transaction (a transaction's body awaits nothing but its own statements, which
complete without suspending). Other processes (more workers, the CLI) are
serialised by SQLite's own locking with a busy timeout. A serving store moves
WAL checkpoints, the one slow step (an fsync), to a thread of its own.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from keyturn.store import _sql as q
from keyturn.store.base import StoreUnavailable
from keyturn.store.dialect import Duplicate, Row, Statements
from keyturn.store.records import RefreshAttempt

log = logging.getLogger(__name__)


@functools.cache
def _s(sql: str) -> str:
    return q.sqlite_dialect(sql)


def _translated(error: sqlite3.Error) -> Exception:
    """A caller error, an outage, or (returned unchanged) a bug."""
    if isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error):
        return Duplicate(str(error))
    if isinstance(error, sqlite3.OperationalError):  # locked, disk I/O, cannot open
        return StoreUnavailable(str(error))
    return error


class _Checkpointer:
    """Copies the WAL back into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside whichever commit crosses the
    threshold, with an fsync, and here that commit runs on the event loop: every
    request waits behind it. A PASSIVE checkpoint on another connection never
    blocks readers or writers, and sqlite3 releases the GIL while it works.
    """

    INTERVAL = 1.0

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keyturn-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.warning("background checkpoint failed; will retry", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._db.close()


class _Connection:
    """Statements on one sqlite3 connection, with driver errors translated."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _run(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(_s(sql), params)
        except sqlite3.Error as error:
            raise _translated(error) from error

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        row: Row | None = self._run(sql, params).fetchone()
        return row

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return self._run(sql, params).fetchall()

    async def execute(self, sql: str, *params: Any) -> int:
        return self._run(sql, params).rowcount


class SQLiteDialect(_Connection):
    name = "sqlite"
    lock_row = ""  # BEGIN IMMEDIATE already holds the database's write lock
    skip_locked = ""  # and so there is never a row another transaction holds

    def __init__(self, path: str, *, background_checkpoints: bool = False) -> None:
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA journal_mode = WAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        super().__init__(db)
        # NORMAL in WAL mode is durable against application crashes; only an
        # OS crash can lose the last transactions (https://sqlite.org/wal.html).
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        self._checkpointer: _Checkpointer | None = None
        if background_checkpoints and path != ":memory:":
            db.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = _Checkpointer(path)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        # IMMEDIATE takes the write lock up front, so a transaction never has
        # to upgrade a read lock and fail with SQLITE_BUSY halfway through.
        await self.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        await self.execute("COMMIT")

    async def advance_refresh(self, attempt: RefreshAttempt) -> Row | None:
        # The previous use is read under the same write lock as the UPDATE, so it
        # is the row the UPDATE replaces even with other processes writing.
        async with self.transaction() as tx:
            previous = await tx.fetchrow(q.SELECT_PREVIOUS_USE, attempt.grant_id)
            row = await tx.fetchrow(q.ADVANCE_REFRESH_IN_PLACE, *q.refresh_values(attempt))
        return None if row is None or previous is None else (*row, *previous)

    async def read_grant(self, grant_id: bytes) -> Row | None:
        return await self.fetchrow(q.SELECT_GRANT, grant_id)

    async def lock_keys(self, tx: Statements) -> None:
        pass  # the transaction holds the write lock

    async def announce_client_change(self, tx: Statements, client_id: str) -> None:
        pass  # nothing is cached, so there is nobody to tell

    def on_client_change(self, callback: Callable[[str | None], None]) -> bool:
        # Other processes change clients in the same file and send no notice.
        return False

    def hearing_changes(self) -> bool:
        return False

    async def lock_schema(self, tx: Statements) -> None:
        pass

    async def run_script(self, tx: Statements, script: str) -> None:
        for statement in _statements(script):
            await tx.execute(statement)

    def pool_stats(self) -> tuple[int, int]:
        # One connection, used only between awaits: never seen busy from outside.
        return 1, 0

    async def has_table(self, tx: Statements, name: str) -> bool:
        row = await tx.fetchrow(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", name
        )
        return row is not None

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    current = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            yield current
            current = ""
    if current.strip():
        yield current
