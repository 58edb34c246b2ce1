"""Open a store from a database URL."""

from __future__ import annotations

from keyturn.store.base import Store
from keyturn.store.sql import SqlStore


async def open_store(
    url: str, *, pool_size: int = 10, listen: bool = True, listen_url: str | None = None
) -> Store:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `postgresql://…`; on
    PostgreSQL the LISTEN connection may go elsewhere (`listen_url`, e.g. past a
    transaction-pooling PgBouncer)."""
    if url.startswith(("postgresql://", "postgres://")):
        from keyturn.store.postgres import PostgresDialect

        dialect = await PostgresDialect.connect(
            url, pool_size=pool_size, listen=listen, listen_url=listen_url
        )
        return SqlStore(dialect)
    if url.startswith("sqlite:///"):
        from keyturn.store.sqlite import SQLiteDialect

        # A serving store (the one that listens, on PostgreSQL) checkpoints off the loop.
        path = url.removeprefix("sqlite:///")
        return SqlStore(SQLiteDialect(path, background_checkpoints=listen))
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///… or postgresql://…")
