"""Open a store from a database URL."""

from __future__ import annotations

from keyturn.store.base import Store


async def open_store(url: str, *, pool_size: int = 10, listen: bool = True) -> Store:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `postgresql://…`."""
    if url.startswith(("postgresql://", "postgres://")):
        from keyturn.store.postgres import PostgresStore

        return await PostgresStore.connect(url, pool_size=pool_size, listen=listen)
    if url.startswith("sqlite:///"):
        from keyturn.store.sqlite import SQLiteStore

        # A serving store (the one that listens, on PostgreSQL) checkpoints off the loop.
        return SQLiteStore(url.removeprefix("sqlite:///"), background_checkpoints=listen)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///… or postgresql://…")
