"""The embedded default: SQLite in WAL mode.

Calls run synchronously on the event loop thread. A one-row statement on a
local file takes microseconds, less than handing it to a worker thread would,
and it means no two coroutines of one process ever interleave inside a
transaction. Other processes (more workers, the CLI) are serialised by
SQLite's own locking with a busy timeout. A serving store moves WAL
checkpoints, the one slow step (an fsync), to a thread of its own.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keyturn.store import _sql as q
from keyturn.store.base import (
    CODE_REUSE_EVENT,
    PASSWORD_CHANGED_EVENT,
    REUSE_EVENT,
    EmailTaken,
    StoreUnavailable,
    classify_miss,
)
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

_ADVANCE_REFRESH = q.sqlite_dialect(q.ADVANCE_REFRESH)


def _s(sql: str) -> str:
    return q.sqlite_dialect(sql)


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


class SQLiteStore:
    def __init__(self, path: str, *, background_checkpoints: bool = False) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode is durable against application crashes; only an
        # OS crash can lose the last transactions (https://sqlite.org/wal.html).
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._checkpointer: _Checkpointer | None = None
        if background_checkpoints and path != ":memory:":
            self._db.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = _Checkpointer(path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a transaction never has
        # to upgrade a read lock and fail with SQLITE_BUSY halfway through.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _one(self, sql: str, *params: Any) -> Any:
        return self._db.execute(_s(sql), params).fetchone()

    def _all(self, sql: str, *params: Any) -> list[Any]:
        return self._db.execute(_s(sql), params).fetchall()

    def _change(self, sql: str, *params: Any) -> int:
        return self._db.execute(_s(sql), params).rowcount

    # -- clients -----------------------------------------------------------

    async def create_client(self, client: Client) -> None:
        self._change(q.INSERT_CLIENT, *q.client_values(client))

    async def get_client(self, client_id: str) -> Client | None:
        row = self._one(q.SELECT_CLIENT, client_id)
        return None if row is None else q.client_from_row(row)

    async def list_clients(self) -> list[Client]:
        return [q.client_from_row(row) for row in self._all(q.SELECT_CLIENTS)]

    async def set_client_secret(self, client_id: str, secret_hash: bytes) -> bool:
        return self._change(q.UPDATE_CLIENT_SECRET, client_id, secret_hash) == 1

    async def disable_client(self, client_id: str, now: float) -> bool:
        with self._transaction() as db:
            found = db.execute(_s(q.DISABLE_CLIENT), (client_id,)).rowcount == 1
            sql, values = q.revoke_grants_sql(None, client_id)
            db.execute(_s(sql), ("client_disabled", now, *values))
        return found

    # -- users -------------------------------------------------------------

    async def create_user(self, user: User) -> None:
        try:
            self._change(q.INSERT_USER, *q.user_values(user))
        except sqlite3.IntegrityError as exc:
            raise EmailTaken(user.email) from exc

    async def get_user(self, user_id: str) -> User | None:
        row = self._one(q.SELECT_USER, user_id)
        return None if row is None else q.user_from_row(row)

    async def get_user_by_email(self, email: str) -> User | None:
        row = self._one(q.SELECT_USER_BY_EMAIL, email)
        return None if row is None else q.user_from_row(row)

    async def claim_user(self, user_id: str, password_hash: str, now: float) -> bool:
        return self._change(q.CLAIM_USER, user_id, password_hash, now) == 1

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        return self._change(q.SET_PASSWORD, user_id, password_hash) == 1

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        keep_session_hash: bytes,
        now: float,
        ip: str | None,
    ) -> bool:
        with self._transaction() as db:
            if not db.execute(_s(q.SET_PASSWORD), (user_id, password_hash)).rowcount:
                return False
            ended = db.execute(_s(q.END_OTHER_SESSIONS), (user_id, keep_session_hash)).rowcount
            detail = json.dumps({"sessions_ended": ended})
            event = (now, PASSWORD_CHANGED_EVENT, None, user_id, None, ip, detail)
            db.execute(_s(q.INSERT_EVENT), event)
        return True

    async def set_enhanced_security(self, user_id: str, enabled: bool, now: float) -> int:
        with self._transaction() as db:
            db.execute(_s(q.SET_ENHANCED_SECURITY), (user_id, enabled))
            if not enabled:
                return 0
            sql, values = q.revoke_grants_sql(user_id, None)
            return db.execute(_s(sql), ("enhanced_security", now, *values)).rowcount

    # -- grants ------------------------------------------------------------

    async def create_grant(self, new: NewGrant) -> Grant:
        return q.grant_from_row(self._one(q.INSERT_GRANT, *q.new_grant_values(new)))

    async def get_grant(self, grant_id: bytes) -> Grant | None:
        row = self._one(q.SELECT_GRANT, grant_id)
        return None if row is None else q.grant_from_row(row)

    async def advance_refresh(self, attempt: RefreshAttempt) -> RefreshOutcome:
        row = self._db.execute(_ADVANCE_REFRESH, q.refresh_values(attempt)).fetchone()
        if row is not None:
            return Advanced(q.grant_from_row(row))
        with self._transaction() as db:
            found = db.execute(_s(q.SELECT_GRANT), (attempt.grant_id,)).fetchone()
            grant = None if found is None else q.grant_from_row(found)
            outcome = classify_miss(grant, attempt)
            if outcome is not None:
                return outcome
            assert grant is not None
            db.execute(_s(q.REVOKE_GRANT), (attempt.grant_id, "reuse_detected", attempt.now))
            db.execute(_s(q.INSERT_EVENT), _reuse_event(grant, attempt))
        revoked = await self.get_grant(attempt.grant_id)
        return ReuseDetected(revoked or grant)

    async def revoke_grant(
        self, grant_id: bytes, reason: str, now: float, *, client_id: str | None = None
    ) -> bool:
        if client_id is None:
            return self._change(q.REVOKE_GRANT, grant_id, reason, now) == 1
        return self._change(q.REVOKE_GRANT_OF_CLIENT, grant_id, reason, now, client_id) == 1

    async def revoke_grants(
        self, reason: str, now: float, *, user_id: str | None = None, client_id: str | None = None
    ) -> int:
        sql, values = q.revoke_grants_sql(user_id, client_id)
        return self._change(sql, reason, now, *values)

    async def revoke_access(self, grant_id: bytes, access_generation: int) -> bool:
        return self._change(q.REVOKE_ACCESS, grant_id, access_generation) == 1

    async def list_grants(
        self,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        include_inactive: bool = False,
        now: float,
    ) -> list[Grant]:
        sql, values = q.list_grants_sql(user_id, client_id, include_inactive, now)
        return [q.grant_from_row(row) for row in self._all(sql, *values)]

    # -- authorization codes, sessions, consent ----------------------------

    async def create_code(self, code: AuthorizationCode) -> None:
        self._change(q.INSERT_CODE, *q.code_values(code))

    async def get_code(self, code_hash: bytes) -> AuthorizationCode | None:
        row = self._one(q.SELECT_CODE, code_hash)
        return None if row is None else q.code_from_row(row)

    async def exchange_code(self, code_hash: bytes, new: NewGrant) -> CodeOutcome:
        with self._transaction() as db:
            if db.execute(_s(q.REDEEM_CODE), (code_hash, new.created_at, new.grant_id)).rowcount:
                row = db.execute(_s(q.INSERT_GRANT), q.new_grant_values(new)).fetchone()
                return CodeExchanged(q.grant_from_row(row))
            found = db.execute(_s(q.SELECT_CODE), (code_hash,)).fetchone()
            if found is None or found[9] is None:
                return None
            code = q.code_from_row(found)
            if code.grant_id is not None:
                db.execute(_s(q.REVOKE_GRANT), (code.grant_id, "reuse_detected", new.created_at))
            db.execute(_s(q.INSERT_EVENT), _code_reuse_event(code, new.created_at))
            return CodeReplayed(code.grant_id)

    async def create_session(self, session: Session) -> None:
        self._change(
            q.INSERT_SESSION,
            session.session_hash,
            session.user_id,
            session.auth_time,
            session.expires_at,
        )

    async def get_session(self, session_hash: bytes, now: float) -> Session | None:
        row = self._one(q.SELECT_SESSION, session_hash, now)
        return None if row is None else q.session_from_row(row)

    async def end_session(self, session_hash: bytes) -> None:
        self._change(q.DELETE_SESSION, session_hash)

    async def get_consent(self, user_id: str, client_id: str) -> str | None:
        row = self._one(q.SELECT_CONSENT, user_id, client_id)
        return None if row is None else str(row[0])

    async def save_consent(self, user_id: str, client_id: str, scope: str, now: float) -> None:
        self._change(q.SAVE_CONSENT, user_id, client_id, scope, now)

    async def forget_consent(self, user_id: str, client_id: str) -> None:
        self._change(q.DELETE_CONSENT, user_id, client_id)

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
        self._change(
            q.INSERT_EVENT, now, kind, client_id, user_id, grant_id, ip, json.dumps(detail or {})
        )

    async def list_events(self, *, after_id: int = 0, limit: int = 100) -> list[Event]:
        return [q.event_from_row(row) for row in self._all(q.SELECT_EVENTS, after_id, limit)]

    # -- keys --------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        return [q.key_from_row(row) for row in self._all(q.SELECT_KEYS)]

    async def add_key(self, kind: str, sealed: bytes, now: float) -> int:
        with self._transaction() as db:
            kid: int = db.execute(q.NEXT_KID).fetchone()[0]
            db.execute(_s(q.INSERT_KEY), (kid, kind, sealed, now))
        return kid

    async def retire_key(self, kid: int, now: float) -> bool:
        return self._change(q.RETIRE_KEY, kid, now) == 1

    # -- maintenance -------------------------------------------------------

    async def purge(self, now: float, *, batch: int, keep_seconds: float) -> dict[str, int]:
        cutoff = now - keep_seconds
        with self._transaction() as db:
            grants = db.execute(_s(q.PURGE_GRANTS), (now, cutoff, batch)).rowcount
            events = db.execute(_s(q.PURGE_EVENTS), (cutoff, batch)).rowcount
            codes = db.execute(_s(q.PURGE_CODES), (now - 3600, batch)).rowcount
            sessions = db.execute(_s(q.PURGE_SESSIONS), (now, batch)).rowcount
        return {"grants": grants, "events": events, "codes": codes, "sessions": sessions}

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._transaction() as db:
            db.execute(CREATE_LEDGER)
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for migration in load_migrations("sqlite"):
                if migration.version in done:
                    continue
                for statement in _statements(migration.sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
                applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()


def _code_reuse_event(code: AuthorizationCode, now: float) -> tuple[Any, ...]:
    return (now, CODE_REUSE_EVENT, code.client_id, code.user_id, code.grant_id, None, "{}")


def _reuse_event(grant: Grant, attempt: RefreshAttempt) -> tuple[Any, ...]:
    detail = {"presented": attempt.generation, "current": grant.refresh_generation}
    return (
        attempt.now,
        REUSE_EVENT,
        grant.client_id,
        grant.user_id,
        grant.grant_id,
        attempt.ip,
        json.dumps(detail),
    )


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
