"""What a database backend supplies to the one SQL store (`keyturn.store.sql`).

The store's logic — which statements, in which transaction, how a miss is
classified — is written once. A dialect only runs statements (written with
PostgreSQL's `$n` placeholders; SQLite rewrites them), opens transactions, and
owns what genuinely differs: the refresh hot path (PostgreSQL batches
concurrent refreshes into one statement), row locks, cross-instance change
notices, how migrations are applied, and turning its driver's errors into
`StoreUnavailable` (an outage) or `Duplicate` (a unique key), so that nothing
above the store ever sees a driver exception.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from keyturn.store._sql import Row
from keyturn.store.records import RefreshAttempt


class Duplicate(Exception):
    """An INSERT or UPDATE hit a unique key."""


class Statements(Protocol):
    """Run one statement; `execute` returns the number of rows it affected."""

    async def fetchrow(self, sql: str, *params: Any) -> Row | None: ...
    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...
    async def execute(self, sql: str, *params: Any) -> int: ...


class Dialect(Statements, Protocol):
    name: str  # "sqlite" or "postgres": the migrations folder
    # Appended to a SELECT whose row the same transaction is about to change.
    lock_row: str
    # The same, passing over rows another transaction holds (work queues).
    skip_locked: str

    def transaction(self) -> AbstractAsyncContextManager[Statements]:
        """Statements inside run in one transaction, committed on a clean exit."""
        ...

    async def advance_refresh(self, attempt: RefreshAttempt) -> Row | None:
        """The conditional refresh UPDATE … RETURNING: the new row, or None on a miss."""
        ...

    async def read_grant(self, grant_id: bytes) -> Row | None: ...

    async def lock_keys(self, tx: Statements) -> None:
        """Serialise key-id allocation among concurrent `add_key` transactions."""
        ...

    async def announce_client_change(self, tx: Statements, client_id: str) -> None:
        """Tell other instances, on commit, that a client changed (their caches drop it)."""
        ...

    def on_client_change(self, callback: Callable[[str | None], None]) -> bool:
        """Call `callback(client_id)` when another instance changed a client, or
        `callback(None)` when notices may have been missed. False when this dialect
        delivers no notices (so nothing may be cached)."""
        ...

    def hearing_changes(self) -> bool:
        """Whether notices arrive right now (a listener can be down for a while)."""
        ...

    async def lock_schema(self, tx: Statements) -> None:
        """Serialise concurrent migration runs."""
        ...

    async def run_script(self, tx: Statements, script: str) -> None:
        """Run a migration file of several statements inside `tx`."""
        ...

    def pool_stats(self) -> tuple[int, int]:
        """(connections open, connections in use)."""
        ...

    async def has_table(self, tx: Statements, name: str) -> bool:
        """Whether the table exists (a status check must not create the ledger)."""
        ...

    async def close(self) -> None: ...


__all__ = ["Dialect", "Duplicate", "Row", "Statements"]
