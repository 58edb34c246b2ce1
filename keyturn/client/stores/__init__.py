"""Token stores for the client SDK, opened from a URL."""

from __future__ import annotations

from keyturn.client.stores._base import TokenStore


async def open_token_store(url: str) -> TokenStore:
    """`memory`, `sqlite:///relative.db`, `sqlite:////absolute.db`, `postgresql://…`, `redis://…`."""
    if url == "memory":
        from keyturn.client.stores._memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:///"):
        from keyturn.client.stores._sql import SQLiteTokenStore

        return SQLiteTokenStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from keyturn.client.stores._sql import PostgresTokenStore

        return await PostgresTokenStore.connect(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from keyturn.client.stores._redis import RedisTokenStore

        return RedisTokenStore(url)
    raise ValueError(f"unsupported token store {url!r}")


__all__ = ["TokenStore", "open_token_store"]
