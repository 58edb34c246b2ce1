"""Sealed token records in a store, with a short-lived in-memory copy for the hot path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from keyturn.client._records import TokenRecord
from keyturn.client._sealing import Sealer
from keyturn.client.stores import TokenStore, open_token_store


class Vault:
    """Reads and writes one account's record through the sealer; opens the store once."""

    def __init__(self, store: str | TokenStore, sealer: Sealer, cache_seconds: float) -> None:
        self.sealer = sealer
        self._spec = store
        self._store: TokenStore | None = None if isinstance(store, str) else store
        self._opening = asyncio.Lock()
        self._cache_seconds = cache_seconds
        # account -> (record, monotonic time it was read); the hot path.
        self.cache: dict[str, tuple[TokenRecord, float]] = {}

    async def open(self) -> TokenStore:
        if self._store is None:
            # Many tasks may arrive at once: open the store (a pool) exactly once.
            async with self._opening:
                if self._store is None:
                    assert isinstance(self._spec, str)
                    self._store = await open_token_store(self._spec)
        return self._store

    async def read(self, account: str) -> TokenRecord | None:
        store = await self.open()
        blob = await store.load(account)
        if blob is None:
            self.cache.pop(account, None)
            return None
        record = TokenRecord.from_bytes(self.sealer.open(account, blob))
        self.cache[account] = (record, time.monotonic())
        return record

    async def write(self, account: str, record: TokenRecord) -> None:
        store = await self.open()
        await store.save(account, self.sealer.seal(account, record.to_bytes()))
        self.cache[account] = (record, time.monotonic())

    async def delete(self, account: str) -> None:
        store = await self.open()
        await store.delete(account)
        self.cache.pop(account, None)

    def cached(self, account: str, clock: Callable[[], float]) -> TokenRecord | None:
        """A record read within `cache_seconds` that is not due yet, else None."""
        entry = self.cache.get(account)
        if entry is None or time.monotonic() - entry[1] > self._cache_seconds:
            return None
        record = entry[0]
        return None if record.due(clock()) else record

    async def close(self) -> None:
        """Close the store if it was opened here from a URL (a given store is the caller's)."""
        if self._store is not None and isinstance(self._spec, str):
            await self._store.close()
