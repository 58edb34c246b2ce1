"""SQLite and PostgreSQL token stores: one table of sealed records, one of leases."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import asyncpg

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS keyturn_client_tokens ("
    " account TEXT PRIMARY KEY, record {blob} NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS keyturn_client_locks ("
    " account TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
]
LOAD = "SELECT record FROM keyturn_client_tokens WHERE account = $1"
# One statement: a crash leaves the old record or the new one.
SAVE = (
    "INSERT INTO keyturn_client_tokens (account, record, updated_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (account) DO UPDATE SET record = excluded.record,"
    " updated_at = excluded.updated_at"
)
DELETE = "DELETE FROM keyturn_client_tokens WHERE account = $1"
ACCOUNTS = "SELECT account FROM keyturn_client_tokens ORDER BY account"
# Take the lease if nobody holds it or the holder's lease ran out.
TRY_LOCK = (
    "INSERT INTO keyturn_client_locks (account, owner, expires_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (account) DO UPDATE SET owner = excluded.owner,"
    " expires_at = excluded.expires_at WHERE keyturn_client_locks.expires_at < $4"
    " RETURNING owner"
)
UNLOCK = "DELETE FROM keyturn_client_locks WHERE account = $1 AND owner = $2"


def _qmarks(sql: str) -> str:
    for index in range(9, 0, -1):
        sql = sql.replace(f"${index}", f"?{index}")
    return sql


class SQLiteTokenStore:
    """A local file shared by every process on the host (WAL, busy timeout)."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        for statement in SCHEMA:
            self._db.execute(statement.format(blob="BLOB"))

    async def load(self, account: str) -> bytes | None:
        row = self._db.execute(_qmarks(LOAD), (account,)).fetchone()
        return None if row is None else bytes(row[0])

    async def save(self, account: str, blob: bytes) -> None:
        self._db.execute(_qmarks(SAVE), (account, blob, time.time()))

    async def delete(self, account: str) -> None:
        self._db.execute(_qmarks(DELETE), (account,))

    async def accounts(self) -> list[str]:
        return [row[0] for row in self._db.execute(ACCOUNTS)]

    async def try_lock(self, account: str, owner: str, lease: float) -> bool:
        now = time.time()
        row = self._db.execute(_qmarks(TRY_LOCK), (account, owner, now + lease, now)).fetchone()
        return row is not None and row[0] == owner

    async def unlock(self, account: str, owner: str) -> None:
        self._db.execute(_qmarks(UNLOCK), (account, owner))

    async def close(self) -> None:
        self._db.close()


class PostgresTokenStore:
    """Shared by every host that reaches the database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str) -> PostgresTokenStore:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        async with pool.acquire() as conn:
            # Concurrent first starts may race on CREATE TABLE IF NOT EXISTS.
            await conn.execute("SELECT pg_advisory_lock(7318007)")
            try:
                for statement in SCHEMA:
                    await conn.execute(statement.format(blob="BYTEA"))
            finally:
                await conn.execute("SELECT pg_advisory_unlock(7318007)")
        return cls(pool)

    async def load(self, account: str) -> bytes | None:
        value = await self._pool.fetchval(LOAD, account)
        return None if value is None else bytes(value)

    async def save(self, account: str, blob: bytes) -> None:
        await self._pool.execute(SAVE, account, blob, time.time())

    async def delete(self, account: str) -> None:
        await self._pool.execute(DELETE, account)

    async def accounts(self) -> list[str]:
        return [row[0] for row in await self._pool.fetch(ACCOUNTS)]

    async def try_lock(self, account: str, owner: str, lease: float) -> bool:
        now = time.time()
        holder = await self._pool.fetchval(TRY_LOCK, account, owner, now + lease, now)
        return bool(holder == owner)

    async def unlock(self, account: str, owner: str) -> None:
        await self._pool.execute(UNLOCK, account, owner)

    async def close(self) -> None:
        await self._pool.close()
