"""Tokens in this process only: for tests and single-process tools."""

from __future__ import annotations

import time


class MemoryStore:
    def __init__(self) -> None:
        self._records: dict[str, bytes] = {}
        self._locks: dict[str, tuple[str, float]] = {}

    async def load(self, account: str) -> bytes | None:
        return self._records.get(account)

    async def save(self, account: str, blob: bytes) -> None:
        self._records[account] = blob

    async def delete(self, account: str) -> None:
        self._records.pop(account, None)

    async def accounts(self) -> list[str]:
        return sorted(self._records)

    async def try_lock(self, account: str, owner: str, lease: float) -> bool:
        now = time.monotonic()
        held = self._locks.get(account)
        if held is not None and held[1] > now:
            return False
        self._locks[account] = (owner, now + lease)
        return True

    async def unlock(self, account: str, owner: str) -> None:
        if self._locks.get(account, ("", 0.0))[0] == owner:
            del self._locks[account]

    async def close(self) -> None:
        self._records.clear()
