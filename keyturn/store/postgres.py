"""The production dialect: PostgreSQL through asyncpg.

asyncpg prepares each statement once per connection and speaks the binary
protocol, so a refresh is one round trip with no ORM in between; concurrent
refreshes (and grant reads) in one worker share that round trip and its
commit (store/batching.py), on connections of their own that reuse one plan
for every batch. Client changes travel to every instance over LISTEN/NOTIFY,
which is what lets the store cache clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from keyturn.store import _sql as q
from keyturn.store.base import StoreUnavailable
from keyturn.store.batching import Batcher
from keyturn.store.dialect import Duplicate, Row, Statements
from keyturn.store.records import RefreshAttempt

log = logging.getLogger(__name__)

CHANNEL = "keyturn_clients"
_MIGRATION_LOCK = 0x6B657974  # "keyt": serialises concurrent `keyturn migrate` runs
# SQLSTATE classes of an outage rather than a refused statement: connection
# exception, insufficient resources, operator intervention, system error; and a
# write that reached a standby during a failover.
_OUTAGE_CLASSES = ("08", "53", "57", "58")
_READ_ONLY_TRANSACTION = "25006"


def _translated(error: Exception) -> Exception:
    """A caller error, an outage, or (returned unchanged) a bug."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return Duplicate(str(error))
    # InternalClientError: a connection the server dropped mid-protocol ("cannot switch
    # to state …") or, with target_session_attrs, no host that is a primary right now.
    if isinstance(
        error, OSError | TimeoutError | asyncpg.InterfaceError | asyncpg.InternalClientError
    ):
        return StoreUnavailable(f"PostgreSQL: {error}")
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate.startswith(_OUTAGE_CLASSES) or sqlstate == _READ_ONLY_TRANSACTION
    ):
        return StoreUnavailable(f"PostgreSQL: {error}")
    return error


_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
# How long a new connection may take: a host that is down answers at once on a LAN,
# one that is gone may never answer, and a request should not wait asyncpg's 60 s.
CONNECT_TIMEOUT = 3.0
# Between attempts to get the LISTEN connection back, growing to at most this.
RELISTEN_MAX_DELAY = 1.0


def _is_read_only(error: BaseException) -> bool:
    return getattr(error, "sqlstate", None) == _READ_ONLY_TRANSACTION


def _count(status: str) -> int:
    """Rows affected, from a command tag such as `UPDATE 3` (0 for `LOCK TABLE`, …)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _Connection:
    """Statements on one connection (a transaction) or on the pool (autocommit)."""

    def __init__(
        self, target: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]
    ) -> None:
        self._target = target

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        try:
            row: Row | None = await self._target.fetchrow(sql, *params)
        except _DRIVER_ERRORS as error:
            raise self._failed(error) from error
        return row

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        try:
            rows: list[Row] = list(await self._target.fetch(sql, *params))
        except _DRIVER_ERRORS as error:
            raise self._failed(error) from error
        return rows

    async def execute(self, sql: str, *params: Any) -> int:
        try:
            return _count(await self._target.execute(sql, *params))
        except _DRIVER_ERRORS as error:
            raise self._failed(error) from error

    def _failed(self, error: Exception) -> Exception:
        """The store's exception for a driver's (where the pool may react first)."""
        return _translated(error)


class PostgresDialect(_Connection):
    name = "postgres"
    lock_row = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        pool: asyncpg.Pool,
        batch_pool: asyncpg.Pool,
        listener: asyncpg.Connection | None,
        listen_url: str = "",
    ) -> None:
        super().__init__(pool)
        self._pool = pool
        self._batch_pool = batch_pool
        self._listen_url = listen_url
        self._listener = listener
        self._listens = listener is not None  # wants notices (gets them when connected)
        self._relisten: asyncio.Task[None] | None = None
        self._expiring: asyncio.Task[None] | None = None
        self._closing = False
        self._client_changed: Callable[[str | None], None] | None = None
        self._refreshes = Batcher(self._advance_grants, _by_grant_id)
        self._grant_reads = Batcher(self._read_grants, bytes)
        if listener is not None:
            listener.add_termination_listener(self._on_listener_lost)

    @classmethod
    async def connect(
        cls, url: str, *, pool_size: int = 10, listen: bool = True, listen_url: str | None = None
    ) -> PostgresDialect:
        """The pool on `url`; with `listen`, the LISTEN connection on `listen_url` if
        given, and the batches' connections there too. A pooler in transaction mode
        hands a client's server connection to others between transactions: it drops
        the notices that arrive meanwhile, and a session setting would stay behind on
        a server connection some other client gets next. So behind one, `listen_url`
        must bypass it (or use a session-mode pool)."""
        listen_url = listen_url or url
        # Names the setting whose URL failed (the batch pool's as well as the listener's).
        where = "" if listen_url == url else " for LISTEN (listen_database)"
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                init=_as_stored,
                reset=_keep_session,
                timeout=CONNECT_TIMEOUT,
            )
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
        try:
            # One connection for each batcher: each has at most one batch in flight.
            batch_pool = await asyncpg.create_pool(
                listen_url,
                min_size=1,
                max_size=2,
                init=_for_batches,
                reset=_keep_session,
                timeout=CONNECT_TIMEOUT,
            )
        except _DRIVER_ERRORS as exc:
            pool.terminate()
            raise StoreUnavailable(f"cannot reach PostgreSQL{where}: {exc}") from exc
        listener = None
        if listen:
            try:
                listener = await asyncpg.connect(listen_url, timeout=CONNECT_TIMEOUT)
            except _DRIVER_ERRORS as exc:
                pool.terminate()
                batch_pool.terminate()
                raise StoreUnavailable(f"cannot reach PostgreSQL{where}: {exc}") from exc
        dialect = cls(pool, batch_pool, listener, listen_url)
        if listener is not None:
            await listener.add_listener(CHANNEL, dialect._on_notify)
        return dialect

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield _Connection(conn)
        except StoreUnavailable as error:  # a statement inside, translated already
            self._after(error.__cause__ or error)
            raise
        except _DRIVER_ERRORS as error:
            self._after(error)
            raise _translated(error) from error

    def _after(self, error: BaseException) -> None:
        """A write refused as read-only: the pool holds connections to a former primary,
        now a standby (a switchover). Drop them all, so the next ones find the primary."""
        if _is_read_only(error) and (self._expiring is None or self._expiring.done()):
            self._expiring = asyncio.get_running_loop().create_task(self._expire_connections())

    async def _expire_connections(self) -> None:
        await self._pool.expire_connections()
        await self._batch_pool.expire_connections()

    def _failed(self, error: Exception) -> Exception:
        self._after(error)
        return _translated(error)

    # -- the refresh hot path and grant reads, batched ----------------------

    async def advance_refresh(self, attempt: RefreshAttempt) -> Row | None:
        try:
            return await self._refreshes.submit(attempt)
        except _DRIVER_ERRORS as error:
            raise self._failed(error) from error

    async def read_grant(self, grant_id: bytes) -> Row | None:
        try:
            return await self._grant_reads.submit(grant_id)
        except _DRIVER_ERRORS as error:
            raise _translated(error) from error

    async def _read_grants(self, grant_ids: Sequence[bytes]) -> dict[bytes, asyncpg.Record]:
        async with self._batch_pool.acquire() as conn:
            if len(grant_ids) == 1:  # a quiet moment: the one-row form (see _advance_grants)
                row = await conn.fetchrow(q.SELECT_GRANT, grant_ids[0])
                return {} if row is None else {grant_ids[0]: row}
            rows = await conn.fetch(q.SELECT_GRANTS_BY_ID, grant_ids)
        return {bytes(row[0]): row for row in rows}

    async def _advance_grants(
        self, attempts: Sequence[RefreshAttempt]
    ) -> dict[bytes, asyncpg.Record]:
        # The same order in every batch makes lock cycles between batches unlikely (the
        # plan decides the order rows are locked in); a deadlock falls back below.
        ordered = sorted(attempts, key=_by_grant_id)
        # Taken from the pool for each batch, not kept between batches: kept, the
        # drain went from one batch straight to the next without letting the event
        # loop in, and p99 at 256 connections rose from 75 ms to 540-580 ms.
        async with self._batch_pool.acquire() as conn:
            if len(ordered) == 1:
                # Alone (the usual case while a worker is not busy), the one-row
                # statement: its scalar parameters cost asyncpg and PostgreSQL less
                # to encode and read than ten arrays of one (about 0.04 ms of the
                # worker's CPU a refresh, measured).
                rows = await self._advance_one_by_one(conn, ordered)
            else:
                columns = list(zip(*map(q.refresh_values, ordered), strict=True))
                rotating = all(attempt.rotate for attempt in ordered)
                batch = q.ADVANCE_ROTATION_BATCH if rotating else q.ADVANCE_REFRESH_BATCH
                try:
                    rows = await conn.fetch(batch, *columns)
                except asyncpg.DeadlockDetectedError:
                    # PostgreSQL rolled the whole statement back; one row at a time
                    # cannot deadlock.
                    rows = await self._advance_one_by_one(conn, ordered)
        return {bytes(row[0]): row for row in rows}

    @staticmethod
    async def _advance_one_by_one(
        conn: PoolConnectionProxy[asyncpg.Record], attempts: Sequence[RefreshAttempt]
    ) -> list[asyncpg.Record]:
        found = [
            await conn.fetchrow(
                q.ADVANCE_ROTATION if attempt.rotate else q.ADVANCE_REFRESH,
                *q.refresh_values(attempt),
            )
            for attempt in attempts
        ]
        return [row for row in found if row is not None]

    # -- what differs from SQLite -------------------------------------------

    async def lock_keys(self, tx: Statements) -> None:
        await tx.execute("LOCK TABLE keys IN SHARE ROW EXCLUSIVE MODE")

    async def announce_client_change(self, tx: Statements, client_id: str) -> None:
        await tx.fetchrow("SELECT pg_notify($1, $2)", CHANNEL, client_id)

    def on_client_change(self, callback: Callable[[str | None], None]) -> bool:
        self._client_changed = callback
        return self._listens

    def hearing_changes(self) -> bool:
        return self._listener is not None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if self._client_changed is not None:
            self._client_changed(str(payload))

    def _on_listener_lost(self, _conn: Any) -> None:
        self._listener = None
        if self._client_changed is not None:
            self._client_changed(None)
        if self._closing:
            return
        log.warning("lost the LISTEN connection; clients are not cached until it is back")
        self._relisten = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        """Reconnect the listener (a restart, a failover) with a short growing pause;
        once back, whatever was cached meanwhile is dropped: notices were missed."""
        delay = 0.1
        while not self._closing:
            try:
                listener = await asyncpg.connect(self._listen_url, timeout=CONNECT_TIMEOUT)
                await listener.add_listener(CHANNEL, self._on_notify)
            except _DRIVER_ERRORS:
                await asyncio.sleep(delay)
                delay = min(2 * delay, RELISTEN_MAX_DELAY)
                continue
            if self._closing:
                listener.terminate()
                return
            listener.add_termination_listener(self._on_listener_lost)
            self._listener = listener
            if self._client_changed is not None:
                self._client_changed(None)
            log.warning("the LISTEN connection is back; clients are cached again")
            return

    async def lock_schema(self, tx: Statements) -> None:
        await tx.fetchrow("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)

    async def run_script(self, tx: Statements, script: str) -> None:
        await tx.execute(script)  # asyncpg runs a multi-statement script without parameters

    def pool_stats(self) -> tuple[int, int]:
        # The pool `pool_size` sizes; the batch connections are a fixed two.
        size = self._pool.get_size()
        return size, size - self._pool.get_idle_size()

    async def has_table(self, tx: Statements, name: str) -> bool:
        row = await tx.fetchrow("SELECT to_regclass($1) IS NOT NULL", name)
        return row is not None and bool(row[0])

    async def close(self) -> None:
        self._closing = True
        if self._relisten is not None:
            self._relisten.cancel()
        await self._refreshes.close()
        await self._grant_reads.close()
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await asyncio.wait_for(listener.close(), timeout=2)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                listener.terminate()
        await self._pool.close()
        await self._batch_pool.close()


async def _as_stored(conn: asyncpg.Connection) -> None:
    """Grant ids and addresses in the form the rest of keyturn holds them.

    A grant id is 16 random bytes everywhere else (inside tokens, in events); the
    grants table keeps it as a `uuid` because that type has no length header and
    a narrower index key than `bytea`. Its binary form is exactly those 16 bytes,
    so they pass through unchanged rather than as `uuid.UUID` objects. An address
    (`inet`) passes as its text, which for a single host is the bare address.
    """
    await conn.set_type_codec(
        "uuid", schema="pg_catalog", format="binary", encoder=bytes, decoder=bytes
    )
    await conn.set_type_codec("inet", schema="pg_catalog", format="text", encoder=str, decoder=str)


async def _for_batches(conn: asyncpg.Connection) -> None:
    """A batch connection plans its statements once, not once a batch.

    Its statements (the batched refresh and read, and their one-row forms for a
    batch of one) look grants up by primary key whatever the values, so one plan
    serves every batch. PostgreSQL's default would plan each execution afresh with
    the arrays' values, because the plan it makes for a batch of one or two looks
    cheaper than a plan for any batch; for the refresh that planning cost about
    four times the statement's execution (0.22 ms against 0.05). Measured in
    the database's CPU per lone refresh: 0.5 ms planned each time, 0.2 ms with
    the one plan.
    """
    await _as_stored(conn)
    await conn.execute("SET plan_cache_mode = force_generic_plan")


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release session reset (RESET ALL, UNLISTEN *, …).

    It costs a round trip on every query, and this store never leaves session
    state behind that another use of the connection would trip over: no session
    locks, no LISTEN on pooled connections, every transaction closed by its
    context manager, and the one SET (on the batch connections) made for good.
    """


def _by_grant_id(attempt: RefreshAttempt) -> bytes:
    return attempt.grant_id
