"""The production store: PostgreSQL through asyncpg.

asyncpg prepares each statement once per connection and speaks the binary
protocol, so a refresh is one round trip with no ORM in between; concurrent
refreshes (and grant reads) in one worker share that round trip and its
commit (store/batching.py). Clients are
cached in process (they are read on every token request and change rarely);
changes travel to every instance over LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from keyturn.store import _sql as q
from keyturn.store.base import (
    CODE_REUSE_EVENT,
    PASSWORD_CHANGED_EVENT,
    REUSE_EVENT,
    EmailTaken,
    StoreUnavailable,
    classify_miss,
)
from keyturn.store.batching import Batcher
from keyturn.store.migrations import CREATE_LEDGER, load_migrations
from keyturn.store.records import (
    Advanced,
    AuthorizationCode,
    Client,
    CodeExchanged,
    CodeOutcome,
    CodeReplayed,
    Event,
    Grant,
    NewGrant,
    RefreshAttempt,
    RefreshOutcome,
    ReuseDetected,
    Session,
    StoredKey,
    User,
)

log = logging.getLogger(__name__)

CHANNEL = "keyturn_clients"
# Bounds staleness if a notification is ever lost with its connection.
CLIENT_CACHE_SECONDS = 30.0
_MIGRATION_LOCK = 0x6B657974  # "keyt": serialises concurrent `keyturn migrate` runs


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, listener: asyncpg.Connection | None) -> None:
        self._pool = pool
        self._listener = listener
        self._clients: dict[str, tuple[Client, float]] = {}
        self._refreshes = Batcher(self._advance_grants, _by_grant_id)
        self._grant_reads = Batcher(self._read_grants, bytes)
        if listener is not None:
            listener.add_termination_listener(self._on_listener_lost)

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10, listen: bool = True) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=pool_size, reset=_keep_session
            )
            listener = await asyncpg.connect(url) if listen else None
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
        store = cls(pool, listener)
        if listener is not None:
            await listener.add_listener(CHANNEL, store._on_notify)
        return store

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._clients.pop(str(payload), None)

    def _on_listener_lost(self, _conn: Any) -> None:
        log.warning("lost the LISTEN connection; client caching is off until restart")
        self._listener = None
        self._clients.clear()

    def _forget_client(self, client_id: str) -> None:
        self._clients.pop(client_id, None)

    # -- clients -----------------------------------------------------------

    async def create_client(self, client: Client) -> None:
        await self._pool.execute(q.INSERT_CLIENT, *q.client_values(client))

    async def get_client(self, client_id: str) -> Client | None:
        cached = self._clients.get(client_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < CLIENT_CACHE_SECONDS:
            return cached[0]
        row = await self._pool.fetchrow(q.SELECT_CLIENT, client_id)
        if row is None:
            return None
        client = q.client_from_row(row)
        if self._listener is not None:
            self._clients[client_id] = (client, now)
        return client

    async def list_clients(self) -> list[Client]:
        return [q.client_from_row(row) for row in await self._pool.fetch(q.SELECT_CLIENTS)]

    async def set_client_secret(self, client_id: str, secret_hash: bytes) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(q.UPDATE_CLIENT_SECRET, client_id, secret_hash)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, client_id)
        self._forget_client(client_id)
        return _count(status) == 1

    async def disable_client(self, client_id: str, now: float) -> bool:
        sql, values = q.revoke_grants_sql(None, client_id)
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(q.DISABLE_CLIENT, client_id)
            await conn.execute(sql, "client_disabled", now, *values)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, client_id)
        self._forget_client(client_id)
        return _count(status) == 1

    # -- users -------------------------------------------------------------

    async def create_user(self, user: User) -> None:
        try:
            await self._pool.execute(q.INSERT_USER, *q.user_values(user))
        except asyncpg.UniqueViolationError as exc:
            raise EmailTaken(user.email) from exc

    async def get_user(self, user_id: str) -> User | None:
        row = await self._pool.fetchrow(q.SELECT_USER, user_id)
        return None if row is None else q.user_from_row(row)

    async def get_user_by_email(self, email: str) -> User | None:
        row = await self._pool.fetchrow(q.SELECT_USER_BY_EMAIL, email)
        return None if row is None else q.user_from_row(row)

    async def claim_user(self, user_id: str, password_hash: str, now: float) -> bool:
        return _count(await self._pool.execute(q.CLAIM_USER, user_id, password_hash, now)) == 1

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        return _count(await self._pool.execute(q.SET_PASSWORD, user_id, password_hash)) == 1

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        keep_session_hash: bytes,
        now: float,
        ip: str | None,
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not _count(await conn.execute(q.SET_PASSWORD, user_id, password_hash)):
                return False
            ended = _count(await conn.execute(q.END_OTHER_SESSIONS, user_id, keep_session_hash))
            detail = json.dumps({"sessions_ended": ended})
            await conn.execute(
                q.INSERT_EVENT, now, PASSWORD_CHANGED_EVENT, None, user_id, None, ip, detail
            )
        return True

    async def set_enhanced_security(self, user_id: str, enabled: bool, now: float) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q.SET_ENHANCED_SECURITY, user_id, enabled)
            if not enabled:
                return 0
            sql, values = q.revoke_grants_sql(user_id, None)
            return _count(await conn.execute(sql, "enhanced_security", now, *values))

    # -- grants ------------------------------------------------------------

    async def create_grant(self, new: NewGrant) -> Grant:
        row = await self._pool.fetchrow(q.INSERT_GRANT, *q.new_grant_values(new))
        assert row is not None, "INSERT … RETURNING returns its row"
        return q.grant_from_row(row)

    async def get_grant(self, grant_id: bytes) -> Grant | None:
        row = await self._grant_reads.submit(grant_id)
        return None if row is None else q.grant_from_row(row)

    async def _read_grants(self, grant_ids: Sequence[bytes]) -> dict[bytes, asyncpg.Record]:
        rows = await self._pool.fetch(q.SELECT_GRANTS_BY_ID, grant_ids)
        return {bytes(row[0]): row for row in rows}

    async def _advance_grants(
        self, attempts: Sequence[RefreshAttempt]
    ) -> dict[bytes, asyncpg.Record]:
        # The same order in every batch makes lock cycles between batches unlikely (the
        # plan decides the order rows are locked in); a deadlock falls back below.
        ordered = sorted(attempts, key=_by_grant_id)
        columns = list(zip(*map(q.refresh_values, ordered), strict=True))
        async with self._pool.acquire() as conn:
            try:
                rows = await conn.fetch(q.ADVANCE_REFRESH_BATCH, *columns)
            except asyncpg.DeadlockDetectedError:
                # PostgreSQL rolled the whole statement back; one row at a time cannot deadlock.
                found = [
                    await conn.fetchrow(q.ADVANCE_REFRESH, *q.refresh_values(attempt))
                    for attempt in ordered
                ]
                rows = [row for row in found if row is not None]
        return {bytes(row[0]): row for row in rows}

    async def advance_refresh(self, attempt: RefreshAttempt) -> RefreshOutcome:
        # Concurrent refreshes in this process share one UPDATE (store/batching.py).
        row = await self._refreshes.submit(attempt)
        if row is not None:
            return Advanced(q.grant_from_row(row))
        async with self._pool.acquire() as conn, conn.transaction():
            # FOR UPDATE: the row cannot change between classifying and revoking.
            found = await conn.fetchrow(q.SELECT_GRANT + " FOR UPDATE", attempt.grant_id)
            grant = None if found is None else q.grant_from_row(found)
            outcome = classify_miss(grant, attempt)
            if outcome is not None:
                return outcome
            assert grant is not None
            await conn.execute(q.REVOKE_GRANT, attempt.grant_id, "reuse_detected", attempt.now)
            await conn.execute(
                q.INSERT_EVENT,
                attempt.now,
                REUSE_EVENT,
                grant.client_id,
                grant.user_id,
                grant.grant_id,
                attempt.ip,
                json.dumps({"presented": attempt.generation, "current": grant.refresh_generation}),
            )
        revoked = await self.get_grant(attempt.grant_id)
        return ReuseDetected(revoked or grant)

    async def revoke_grant(
        self, grant_id: bytes, reason: str, now: float, *, client_id: str | None = None
    ) -> bool:
        if client_id is None:
            status = await self._pool.execute(q.REVOKE_GRANT, grant_id, reason, now)
        else:
            status = await self._pool.execute(
                q.REVOKE_GRANT_OF_CLIENT, grant_id, reason, now, client_id
            )
        return _count(status) == 1

    async def revoke_grants(
        self, reason: str, now: float, *, user_id: str | None = None, client_id: str | None = None
    ) -> int:
        sql, values = q.revoke_grants_sql(user_id, client_id)
        return _count(await self._pool.execute(sql, reason, now, *values))

    async def revoke_access(self, grant_id: bytes, access_generation: int) -> bool:
        return _count(await self._pool.execute(q.REVOKE_ACCESS, grant_id, access_generation)) == 1

    async def list_grants(
        self,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        include_inactive: bool = False,
        now: float,
    ) -> list[Grant]:
        sql, values = q.list_grants_sql(user_id, client_id, include_inactive, now)
        return [q.grant_from_row(row) for row in await self._pool.fetch(sql, *values)]

    # -- authorization codes, sessions, consent ----------------------------

    async def create_code(self, code: AuthorizationCode) -> None:
        await self._pool.execute(q.INSERT_CODE, *q.code_values(code))

    async def get_code(self, code_hash: bytes) -> AuthorizationCode | None:
        row = await self._pool.fetchrow(q.SELECT_CODE, code_hash)
        return None if row is None else q.code_from_row(row)

    async def exchange_code(self, code_hash: bytes, new: NewGrant) -> CodeOutcome:
        now = new.created_at
        async with self._pool.acquire() as conn, conn.transaction():
            if _count(await conn.execute(q.REDEEM_CODE, code_hash, now, new.grant_id)):
                row = await conn.fetchrow(q.INSERT_GRANT, *q.new_grant_values(new))
                assert row is not None
                return CodeExchanged(q.grant_from_row(row))
            found = await conn.fetchrow(q.SELECT_CODE, code_hash)
            if found is None or found[9] is None:
                return None
            code = q.code_from_row(found)
            if code.grant_id is not None:
                await conn.execute(q.REVOKE_GRANT, code.grant_id, "reuse_detected", now)
            await conn.execute(
                q.INSERT_EVENT,
                now,
                CODE_REUSE_EVENT,
                code.client_id,
                code.user_id,
                code.grant_id,
                None,
                "{}",
            )
            return CodeReplayed(code.grant_id)

    async def create_session(self, session: Session) -> None:
        await self._pool.execute(
            q.INSERT_SESSION,
            session.session_hash,
            session.user_id,
            session.auth_time,
            session.expires_at,
        )

    async def get_session(self, session_hash: bytes, now: float) -> Session | None:
        row = await self._pool.fetchrow(q.SELECT_SESSION, session_hash, now)
        return None if row is None else q.session_from_row(row)

    async def end_session(self, session_hash: bytes) -> None:
        await self._pool.execute(q.DELETE_SESSION, session_hash)

    async def get_consent(self, user_id: str, client_id: str) -> str | None:
        scope = await self._pool.fetchval(q.SELECT_CONSENT, user_id, client_id)
        return None if scope is None else str(scope)

    async def save_consent(self, user_id: str, client_id: str, scope: str, now: float) -> None:
        await self._pool.execute(q.SAVE_CONSENT, user_id, client_id, scope, now)

    async def forget_consent(self, user_id: str, client_id: str) -> None:
        await self._pool.execute(q.DELETE_CONSENT, user_id, client_id)

    # -- events ------------------------------------------------------------

    async def record_event(
        self,
        kind: str,
        now: float,
        *,
        client_id: str | None = None,
        user_id: str | None = None,
        grant_id: bytes | None = None,
        ip: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        await self._pool.execute(
            q.INSERT_EVENT, now, kind, client_id, user_id, grant_id, ip, json.dumps(detail or {})
        )

    async def list_events(self, *, after_id: int = 0, limit: int = 100) -> list[Event]:
        rows = await self._pool.fetch(q.SELECT_EVENTS, after_id, limit)
        return [q.event_from_row(row) for row in rows]

    # -- keys --------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        return [q.key_from_row(row) for row in await self._pool.fetch(q.SELECT_KEYS)]

    async def add_key(self, kind: str, sealed: bytes, now: float) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE keys IN SHARE ROW EXCLUSIVE MODE")
            kid: int = await conn.fetchval(q.NEXT_KID)
            await conn.execute(q.INSERT_KEY, kid, kind, sealed, now)
        return kid

    async def retire_key(self, kid: int, now: float) -> bool:
        return _count(await self._pool.execute(q.RETIRE_KEY, kid, now)) == 1

    # -- maintenance -------------------------------------------------------

    async def purge(self, now: float, *, batch: int, keep_seconds: float) -> dict[str, int]:
        cutoff = now - keep_seconds
        grants = _count(await self._pool.execute(q.PURGE_GRANTS, now, cutoff, batch))
        events = _count(await self._pool.execute(q.PURGE_EVENTS, cutoff, batch))
        codes = _count(await self._pool.execute(q.PURGE_CODES, now - 3600, batch))
        sessions = _count(await self._pool.execute(q.PURGE_SESSIONS, now, batch))
        return {"grants": grants, "events": events, "codes": codes, "sessions": sessions}

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(CREATE_LEDGER)
            done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in load_migrations("postgres"):
                if migration.version in done:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )
                applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    async def close(self) -> None:
        await self._refreshes.close()
        await self._grant_reads.close()
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await asyncio.wait_for(listener.close(), timeout=2)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                listener.terminate()
        await self._pool.close()


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release session reset (RESET ALL, UNLISTEN *, …).

    It costs a round trip on every query, and this store never leaves session
    state behind: no SET, no session locks, no LISTEN on pooled connections,
    and every transaction is closed by its context manager.
    """


def _by_grant_id(attempt: RefreshAttempt) -> bytes:
    return attempt.grant_id


def _count(status: str) -> int:
    """Rows affected, from a command tag such as `UPDATE 3`."""
    return int(status.rsplit(" ", 1)[-1])
