"""The token store protocol: sealed blobs by account, and a lock per account.

Reads take no lock. A write replaces the whole record in one statement, so a
crash leaves the old record or the new one, never half of each. The lock is a
lease: a holder that dies (even by SIGKILL) releases it when the lease runs
out, which is kept shorter than the server's grace window so that the next
holder's retry of the same refresh token is still answered.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from keyturn.client._errors import LockTimeout

LEASE_SECONDS = 10.0


class TokenStore(Protocol):
    async def load(self, account: str) -> bytes | None: ...
    async def save(self, account: str, blob: bytes) -> None: ...
    async def delete(self, account: str) -> None: ...
    async def accounts(self) -> list[str]: ...
    async def try_lock(self, account: str, owner: str, lease: float) -> bool:
        """Take the account's lease if it is free or expired."""
        ...

    async def unlock(self, account: str, owner: str) -> None: ...
    async def close(self) -> None: ...


@asynccontextmanager
async def locked(
    store: TokenStore, account: str, *, timeout: float, lease: float = LEASE_SECONDS
) -> AsyncIterator[None]:
    """Hold the account's lease; poll with jittered back-off until `timeout`."""
    owner = secrets.token_hex(8)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not await store.try_lock(account, owner, lease):
        if time.monotonic() >= deadline:
            raise LockTimeout(f"could not lock account {account!r} within {timeout} s")
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.1)
    try:
        yield
    finally:
        await store.unlock(account, owner)
