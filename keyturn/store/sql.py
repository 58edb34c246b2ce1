"""The Store, written once over a `Dialect` (SQLite or PostgreSQL).

Every method that changes state opens exactly one transaction, and where the
change is security-relevant its event is written inside that transaction: a
crash can lose the change and its event together, never one without the other.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from typing import Any

from keyturn.store import _sql as q
from keyturn.store.base import EmailTaken, SchemaTooNew, classify_miss
from keyturn.store.dialect import Dialect, Duplicate, Row, Statements
from keyturn.store.migrations import CREATE_LEDGER, Migration, load_migrations
from keyturn.store.records import (
    GRANT_ID_BYTES,
    Advanced,
    AuthorizationCode,
    Client,
    CodeExchanged,
    CodeOutcome,
    CodeReplayed,
    Delivery,
    Event,
    EventKind,
    Grant,
    NewDelivery,
    NewEvent,
    NewGrant,
    Purged,
    RefreshAttempt,
    RefreshOutcome,
    Rejected,
    ReuseDetected,
    RevocationReason,
    SecondFactor,
    Session,
    StoredKey,
    User,
    Webhook,
    user_actor,
)

# Bounds how stale a cached client can be if a change notice is ever lost.
CLIENT_CACHE_SECONDS = 30.0
# A redeemed or expired authorization code is kept this long after its expiry, so
# that a second attempt to redeem it is still recognised as a replay.
CODE_KEEP_SECONDS = 3600.0


class _Undo(Exception):
    """Raised inside a transaction to roll it back: a step after a change failed."""


class SqlStore:
    def __init__(self, dialect: Dialect) -> None:
        self._db = dialect
        # Clients are read on every token request and change rarely; they are
        # cached only where other instances' changes arrive as notices.
        self._clients: dict[str, tuple[Client, float]] = {}
        self._cache_clients = dialect.on_client_change(self._client_changed)
        self._observe: Callable[[str], None] = _ignore

    def observe_events(self, callback: Callable[[str], None]) -> None:
        """Call `callback(kind)` for every event this store records (for metrics)."""
        self._observe = callback

    def pool_stats(self) -> tuple[int, int]:
        return self._db.pool_stats()

    async def _record(
        self, tx: Statements, at: float, event: NewEvent | None, **more_detail: object
    ) -> None:
        """The event of a change, in the change's own transaction."""
        if event is not None:
            await tx.execute(q.INSERT_EVENT, *q.event_values(at, event, **more_detail))
            # Counted when recorded: a transaction that then fails (an outage at
            # commit) has counted one event too many, which a metric can bear.
            self._observe(event.kind)

    def _client_changed(self, client_id: str | None) -> None:
        if client_id is None:  # notices may have been missed: trust nothing cached
            self._clients.clear()
        else:
            self._clients.pop(client_id, None)

    # -- clients -----------------------------------------------------------

    async def create_client(self, client: Client, event: NewEvent | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(q.INSERT_CLIENT, *q.client_values(client))
            await self._record(tx, client.created_at, event)

    async def get_client(self, client_id: str) -> Client | None:
        now = time.monotonic()
        cached = self._clients.get(client_id)
        if cached is not None and now - cached[1] < CLIENT_CACHE_SECONDS:
            return cached[0]
        row = await self._db.fetchrow(q.SELECT_CLIENT, client_id)
        if row is None:
            return None
        client = q.client_from_row(row)
        # Only while other instances' changes are heard (not while the listener is down).
        if self._cache_clients and self._db.hearing_changes():
            self._clients[client_id] = (client, now)
        return client

    async def list_clients(self) -> list[Client]:
        return [q.client_from_row(row) for row in await self._db.fetch(q.SELECT_CLIENTS)]

    async def rotate_client_secret(
        self,
        client_id: str,
        secret_hash: bytes,
        now: float,
        *,
        revoke_reason: RevocationReason | None = None,
        event: NewEvent | None = None,
    ) -> int | None:
        """None for an unknown client, else the number of grants revoked with it."""
        async with self._db.transaction() as tx:
            if not await tx.execute(q.UPDATE_CLIENT_SECRET, client_id, secret_hash):
                return None
            revoked = 0
            if revoke_reason is not None:
                sql, values = q.revoke_grants_sql(None, client_id)
                revoked = await tx.execute(sql, revoke_reason, now, *values)
            await self._record(tx, now, event, grants_revoked=revoked)
            await self._db.announce_client_change(tx, client_id)
        self._clients.pop(client_id, None)
        return revoked

    async def disable_client(
        self, client_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        sql, values = q.revoke_grants_sql(None, client_id)
        async with self._db.transaction() as tx:
            if not await tx.execute(q.DISABLE_CLIENT, client_id):
                return False
            revoked = await tx.execute(sql, RevocationReason.CLIENT_DISABLED, now, *values)
            await self._record(tx, now, event, grants_revoked=revoked)
            await self._db.announce_client_change(tx, client_id)
        self._clients.pop(client_id, None)
        return True

    async def update_client(
        self, client: Client, now: float, event: NewEvent | None = None
    ) -> bool:
        """Write the client's settings (not its secret or state); False if it is gone."""
        async with self._db.transaction() as tx:
            if not await tx.execute(q.UPDATE_CLIENT, *q.client_update_values(client)):
                return False
            await self._record(tx, now, event)
            await self._db.announce_client_change(tx, client.client_id)
        self._clients.pop(client.client_id, None)
        return True

    async def enable_client(
        self, client_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        async with self._db.transaction() as tx:
            if not await tx.execute(q.ENABLE_CLIENT, client_id):
                return False
            await self._record(tx, now, event)
            await self._db.announce_client_change(tx, client_id)
        self._clients.pop(client_id, None)
        return True

    async def delete_client(
        self, client_id: str, now: float, event: NewEvent | None = None
    ) -> int | None:
        """Revoke every grant (reason `client_deleted`), forget consents, and hide the
        client from every lookup; None if there is no such client."""
        sql, values = q.revoke_grants_sql(None, client_id)
        async with self._db.transaction() as tx:
            if not await tx.execute(q.DELETE_CLIENT, client_id, now):
                return None
            revoked = await tx.execute(sql, RevocationReason.CLIENT_DELETED, now, *values)
            await tx.execute(q.DELETE_CLIENT_CONSENTS, client_id)
            await self._record(tx, now, event, grants_revoked=revoked)
            await self._db.announce_client_change(tx, client_id)
        self._clients.pop(client_id, None)
        return revoked

    async def page_clients(self, *, after: tuple[Any, ...] | None, limit: int) -> list[Client]:
        sql, values = q.page_sql(
            q.SELECT_CLIENT_PAGE,
            ["deleted_at IS NULL"],
            [],
            ("created_at", "client_id"),
            after,
            limit,
        )
        return [q.client_from_row(row) for row in await self._db.fetch(sql, *values)]

    # -- users -------------------------------------------------------------

    async def create_user(self, user: User, event: NewEvent | None = None) -> None:
        try:
            async with self._db.transaction() as tx:
                await tx.execute(q.INSERT_USER, *q.user_values(user))
                await self._record(tx, user.created_at, event)
        except Duplicate as exc:
            raise EmailTaken(user.email) from exc

    async def get_user(self, user_id: str) -> User | None:
        row = await self._db.fetchrow(q.SELECT_USER, user_id)
        return None if row is None else q.user_from_row(row)

    async def get_user_by_email(self, email: str) -> User | None:
        row = await self._db.fetchrow(q.SELECT_USER_BY_EMAIL, email)
        return None if row is None else q.user_from_row(row)

    async def claim_user(
        self, user_id: str, password_hash: str, now: float, event: NewEvent | None = None
    ) -> bool:
        async with self._db.transaction() as tx:
            if not await tx.execute(q.CLAIM_USER, user_id, password_hash, now):
                return False
            await self._record(tx, now, event)
        return True

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        return await self._db.execute(q.SET_PASSWORD, user_id, password_hash) == 1

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        keep_session_hash: bytes,
        now: float,
        ip: str | None,
    ) -> bool:
        event = NewEvent(
            EventKind.PASSWORD_CHANGED, actor=user_actor(user_id), user_id=user_id, ip=ip
        )
        async with self._db.transaction() as tx:
            if not await tx.execute(q.SET_PASSWORD, user_id, password_hash):
                return False
            ended = await tx.execute(q.END_OTHER_SESSIONS, user_id, keep_session_hash)
            await self._record(tx, now, event, sessions_ended=ended)
        return True

    async def set_enhanced_security(
        self, user_id: str, enabled: bool, now: float, event: NewEvent | None = None
    ) -> int:
        async with self._db.transaction() as tx:
            await tx.execute(q.SET_ENHANCED_SECURITY, user_id, enabled)
            revoked = 0
            if enabled:
                sql, values = q.revoke_grants_sql(user_id, None)
                revoked = await tx.execute(sql, RevocationReason.ENHANCED_SECURITY, now, *values)
            await self._record(tx, now, event, enabled=enabled, grants_revoked=revoked)
        return revoked

    # -- two-step verification ---------------------------------------------

    async def enable_two_step(
        self,
        user_id: str,
        sealed_secret: bytes,
        step: int,
        recovery_hashes: list[bytes],
        session_hash: bytes,
        now: float,
        event: NewEvent | None = None,
        renamed_to: bytes | None = None,
    ) -> bool:
        """`sealed_secret` becomes the user's (its first code, `step`, is used up), with
        fresh recovery codes; this session is now level 2 and every other session
        ends. False if two-step verification is on already."""
        async with self._db.transaction() as tx:
            if not await tx.execute(q.ENABLE_TOTP, user_id, sealed_secret, step):
                return False
            await tx.execute(q.DELETE_RECOVERY_CODES, user_id)
            for code_hash in recovery_hashes:
                await tx.execute(q.INSERT_RECOVERY_CODE, user_id, code_hash)
            ended = await tx.execute(q.END_OTHER_SESSIONS, user_id, session_hash)
            await tx.execute(q.SET_SESSION_LEVEL, session_hash, 2, renamed_to or session_hash)
            await self._record(tx, now, event, sessions_ended=ended)
        return True

    async def disable_two_step(
        self,
        user_id: str,
        factor: SecondFactor | None,
        keep_session_hash: bytes | None,
        now: float,
        event: NewEvent | None = None,
    ) -> bool:
        """Turn it off: by the user with a code (`factor`), keeping their session at
        level 1, or by an operator (no factor), ending every session. False if the
        code was used already or two-step verification was off."""
        try:
            async with self._db.transaction() as tx:
                if factor is not None and not await self._consume(tx, user_id, factor, now):
                    return False
                if not await tx.execute(q.DISABLE_TOTP, user_id):
                    raise _Undo  # the code stays unused: nothing was turned off
                await self._end_two_step(tx, user_id, keep_session_hash, now, event)
        except _Undo:
            return False
        return True

    async def _end_two_step(
        self,
        tx: Statements,
        user_id: str,
        keep_session_hash: bytes | None,
        now: float,
        event: NewEvent | None,
    ) -> None:
        await tx.execute(q.DELETE_RECOVERY_CODES, user_id)
        if keep_session_hash is None:
            ended = await tx.execute(q.END_USER_SESSIONS, user_id)
        else:
            ended = await tx.execute(q.END_OTHER_SESSIONS, user_id, keep_session_hash)
            await tx.execute(q.SET_SESSION_LEVEL, keep_session_hash, 1, keep_session_hash)
        await self._record(tx, now, event, sessions_ended=ended)

    async def _consume(
        self, tx: Statements, user_id: str, factor: SecondFactor, now: float
    ) -> bool:
        """Use up a second factor: a TOTP step later than the last, or an unused
        recovery code. Concurrent uses of one code: the row lock lets one win."""
        if factor.totp_step is not None:
            return await tx.execute(q.ACCEPT_TOTP_STEP, user_id, factor.totp_step) == 1
        return await tx.execute(q.USE_RECOVERY_CODE, user_id, factor.recovery_hash, now) == 1

    async def set_user_disabled(
        self, user_id: str, disabled: bool, now: float, event: NewEvent | None = None
    ) -> int | None:
        """Disabling revokes every grant (reason `account_disabled`) and ends every
        session; None if there is no such user, else how many grants were revoked."""
        async with self._db.transaction() as tx:
            if not await tx.execute(q.SET_USER_DISABLED, user_id, disabled):
                return None
            revoked = 0
            if disabled:
                sql, values = q.revoke_grants_sql(user_id, None)
                revoked = await tx.execute(sql, RevocationReason.ACCOUNT_DISABLED, now, *values)
                # No session, and no code issued to one, may outlive the change.
                await tx.execute(q.END_USER_SESSIONS, user_id)
                await tx.execute(q.DELETE_USER_CODES, user_id)
            await self._record(tx, now, event, grants_revoked=revoked)
        return revoked

    async def delete_user(
        self, user_id: str, now: float, event: NewEvent | None = None
    ) -> int | None:
        """Erase the user: grants revoked (reason `account_deleted`), sessions, consents
        and unused codes gone, email and password gone; the id stays for the events."""
        sql, values = q.revoke_grants_sql(user_id, None)
        async with self._db.transaction() as tx:
            if not await tx.execute(q.ERASE_USER, user_id, now):
                return None
            revoked = await tx.execute(sql, RevocationReason.ACCOUNT_DELETED, now, *values)
            for statement in (
                q.END_USER_SESSIONS,
                q.DELETE_USER_CONSENTS,
                q.DELETE_USER_CODES,
                q.DELETE_RECOVERY_CODES,
            ):
                await tx.execute(statement, user_id)
            await self._record(tx, now, event, grants_revoked=revoked)
        return revoked

    async def page_users(
        self, *, email: str | None, after: tuple[Any, ...] | None, limit: int
    ) -> list[User]:
        clauses, values = q.numbered([("email = ?", email)] if email is not None else [])
        sql, values = q.page_sql(
            q.SELECT_USER_PAGE,
            ["deleted_at IS NULL", *clauses],
            values,
            ("created_at", "user_id"),
            after,
            limit,
        )
        return [q.user_from_row(row) for row in await self._db.fetch(sql, *values)]

    # -- grants ------------------------------------------------------------

    async def page_grants(
        self,
        *,
        user_id: str | None,
        client_id: str | None,
        active: bool | None,
        now: float,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> list[Grant]:
        filters: list[tuple[str, Any]] = []
        if user_id is not None:
            filters.append(("user_id = ?", user_id))
        if client_id is not None:
            filters.append(("client_id = ?", client_id))
        if active is True:
            filters.append(("revoked_at IS NULL AND expires_at > ?", now))
        elif active is False:
            filters.append(("(revoked_at IS NOT NULL OR expires_at <= ?)", now))
        clauses, values = q.numbered(filters)
        sql, values = q.page_sql(
            q.SELECT_GRANT_PAGE, clauses, values, ("created_at", "grant_id"), after, limit
        )
        return [q.grant_from_row(row) for row in await self._db.fetch(sql, *values)]

    async def create_grant(self, new: NewGrant) -> Grant:
        row = await self._db.fetchrow(q.INSERT_GRANT, *q.new_grant_values(new))
        assert row is not None, "INSERT … RETURNING returns its row"
        return q.grant_from_row(row)

    async def get_grant(self, grant_id: bytes) -> Grant | None:
        if _names_no_grant(grant_id):
            return None
        row = await self._db.read_grant(grant_id)
        return None if row is None else q.grant_from_row(row)

    async def advance_refresh(self, attempt: RefreshAttempt) -> RefreshOutcome:
        row = await self._db.advance_refresh(attempt)
        if row is not None:
            return Advanced(q.grant_from_row(row))
        async with self._db.transaction() as tx:
            # Locked: the row cannot change between classifying and revoking.
            found = await tx.fetchrow(q.SELECT_GRANT + self._db.lock_row, attempt.grant_id)
            grant = None if found is None else q.grant_from_row(found)
            outcome = classify_miss(grant, attempt)
            if isinstance(outcome, Rejected) and outcome.reason == RevocationReason.POLICY_CHANGED:
                await self._revoke_for_policy(tx, outcome.grant, attempt)
            if outcome is not None:
                return outcome
            assert grant is not None
            await tx.execute(
                q.REVOKE_GRANT, attempt.grant_id, RevocationReason.REUSE_DETECTED, attempt.now
            )
            await self._record(tx, attempt.now, _reuse_event(grant, attempt))
        revoked = await self.get_grant(attempt.grant_id)
        return ReuseDetected(revoked or grant)

    async def _revoke_for_policy(
        self, tx: Statements, grant: Grant, attempt: RefreshAttempt
    ) -> None:
        """The client's policy now needs a stronger sign-in than the grant's: it ends."""
        if grant.revoked_at is not None:
            return
        reason = RevocationReason.POLICY_CHANGED
        await tx.execute(q.REVOKE_GRANT, grant.grant_id, reason, attempt.now)
        event = NewEvent(
            EventKind.GRANT_REVOKED,
            client_id=grant.client_id,
            user_id=grant.user_id,
            grant_id=grant.grant_id,
            ip=attempt.ip,
            detail={"auth_level": grant.auth_level, "required": attempt.min_auth_level},
        )
        await self._record(tx, attempt.now, event, reason=reason)

    async def revoke_grant(
        self,
        grant_id: bytes,
        reason: RevocationReason,
        now: float,
        *,
        client_id: str | None = None,
        event: NewEvent | None = None,
    ) -> bool:
        if _names_no_grant(grant_id):
            return False
        async with self._db.transaction() as tx:
            if client_id is None:
                changed = await tx.execute(q.REVOKE_GRANT, grant_id, reason, now)
            else:
                changed = await tx.execute(
                    q.REVOKE_GRANT_OF_CLIENT, grant_id, reason, now, client_id
                )
            if changed:
                await self._record(tx, now, event, reason=reason)
        return changed == 1

    async def revoke_user_grant(
        self, grant_id: bytes, user_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        """The user took an application's access back: revoke the grant (if it is theirs)
        and forget their consent, so the application must ask again."""
        if _names_no_grant(grant_id):
            return False
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(q.SELECT_GRANT + self._db.lock_row, grant_id)
            grant = None if row is None else q.grant_from_row(row)
            if grant is None or grant.user_id != user_id:
                return False
            await tx.execute(q.REVOKE_GRANT, grant_id, RevocationReason.REVOKED_BY_USER, now)
            await tx.execute(q.DELETE_CONSENT, user_id, grant.client_id)
            if event is not None:  # the client is known only from the locked row
                event = dataclasses.replace(event, client_id=grant.client_id)
            await self._record(tx, now, event, reason=RevocationReason.REVOKED_BY_USER)
        return True

    async def revoke_grants(
        self,
        reason: RevocationReason,
        now: float,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        event: NewEvent | None = None,
    ) -> int:
        sql, values = q.revoke_grants_sql(user_id, client_id)
        async with self._db.transaction() as tx:
            count = await tx.execute(sql, reason, now, *values)
            await self._record(tx, now, event, reason=reason, count=count)
        return count

    async def revoke_access(self, grant_id: bytes, access_generation: int) -> bool:
        if _names_no_grant(grant_id):
            return False
        return await self._db.execute(q.REVOKE_ACCESS, grant_id, access_generation) == 1

    async def list_grants(
        self,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        include_inactive: bool = False,
        now: float,
    ) -> list[Grant]:
        sql, values = q.list_grants_sql(user_id, client_id, include_inactive, now)
        return [q.grant_from_row(row) for row in await self._db.fetch(sql, *values)]

    # -- authorization codes, sessions, consent ----------------------------

    async def create_code(self, code: AuthorizationCode) -> None:
        await self._db.execute(q.INSERT_CODE, *q.code_values(code))

    async def get_code(self, code_hash: bytes) -> AuthorizationCode | None:
        row = await self._db.fetchrow(q.SELECT_CODE, code_hash)
        return None if row is None else q.code_from_row(row)

    async def exchange_code(self, code_hash: bytes, new: NewGrant) -> CodeOutcome:
        now = new.created_at
        async with self._db.transaction() as tx:
            if await tx.execute(q.REDEEM_CODE, code_hash, now, new.grant_id):
                row = await tx.fetchrow(q.INSERT_GRANT, *q.new_grant_values(new))
                assert row is not None
                return CodeExchanged(q.grant_from_row(row))
            found = await tx.fetchrow(q.SELECT_CODE, code_hash)
            if found is None or found[9] is None:  # unknown, or expired unused
                return None
            code = q.code_from_row(found)
            if code.grant_id is not None:
                reason = RevocationReason.REUSE_DETECTED
                await tx.execute(q.REVOKE_GRANT, code.grant_id, reason, now)
            reuse = NewEvent(
                EventKind.AUTHORIZATION_CODE_REUSE,
                client_id=code.client_id,
                user_id=code.user_id,
                grant_id=code.grant_id,
            )
            await self._record(tx, now, reuse)
            return CodeReplayed(code.grant_id)

    async def create_session(
        self,
        session: Session,
        event: NewEvent | None = None,
        factor: SecondFactor | None = None,
    ) -> bool:
        """False (and no session) when the second factor was already used, or when a
        level-1 session is asked for a user who has two-step verification by now."""
        try:
            async with self._db.transaction() as tx:
                if factor is not None and not await self._consume(
                    tx, session.user_id, factor, session.auth_time
                ):
                    return False
                started = await tx.execute(
                    q.INSERT_SESSION,
                    session.session_hash,
                    session.user_id,
                    session.auth_time,
                    session.expires_at,
                    session.auth_level,
                )
                if not started:
                    raise _Undo  # a factor used stays unused
                await self._record(tx, session.auth_time, event)
        except _Undo:
            return False
        return True

    async def step_up_session(
        self,
        session_hash: bytes,
        user_id: str,
        factor: SecondFactor,
        now: float,
        event: NewEvent | None = None,
        renamed_to: bytes | None = None,
    ) -> bool:
        """The session proves a second factor now: level 2, authenticated now."""
        try:
            async with self._db.transaction() as tx:
                if not await self._consume(tx, user_id, factor, now):
                    return False
                if not await tx.execute(
                    q.RAISE_SESSION_LEVEL, session_hash, user_id, 2, now, renamed_to or session_hash
                ):
                    raise _Undo  # the session ended meanwhile: the code stays unused
                await self._record(tx, now, event)
        except _Undo:
            return False
        return True

    async def get_session(self, session_hash: bytes, now: float) -> Session | None:
        row = await self._db.fetchrow(q.SELECT_SESSION, session_hash, now)
        return None if row is None else q.session_from_row(row)

    async def end_session(self, session_hash: bytes) -> None:
        await self._db.execute(q.DELETE_SESSION, session_hash)

    async def get_consent(self, user_id: str, client_id: str) -> str | None:
        row = await self._db.fetchrow(q.SELECT_CONSENT, user_id, client_id)
        return None if row is None else str(row[0])

    async def save_consent(self, user_id: str, client_id: str, scope: str, now: float) -> None:
        await self._db.execute(q.SAVE_CONSENT, user_id, client_id, scope, now)

    async def forget_consent(self, user_id: str, client_id: str) -> None:
        await self._db.execute(q.DELETE_CONSENT, user_id, client_id)

    # -- events ------------------------------------------------------------

    async def record_event(self, now: float, event: NewEvent) -> None:
        """An event that goes with no state change (a failed sign-in, say)."""
        await self._db.execute(q.INSERT_EVENT, *q.event_values(now, event))
        self._observe(event.kind)

    async def page_events(
        self,
        *,
        kinds: tuple[str, ...],
        user_id: str | None,
        client_id: str | None,
        since: float | None,
        before_id: int | None,
        limit: int,
    ) -> list[Event]:
        """Newest first; `before_id` is the previous page's last event id."""
        filters: list[tuple[str, Any]] = []
        if user_id is not None:
            filters.append(("user_id = ?", user_id))
        if client_id is not None:
            filters.append(("client_id = ?", client_id))
        if since is not None:
            filters.append(("at >= ?", since))
        clauses, values = q.numbered(filters)
        if kinds:
            first = len(values) + 1
            marks = ", ".join(f"${first + i}" for i in range(len(kinds)))
            clauses.append(f"kind IN ({marks})")
            values.extend(kinds)
        after = None if before_id is None else (before_id,)
        sql, values = q.page_sql(
            q.SELECT_EVENT_PAGE, clauses, values, ("event_id",), after, limit, newest_first=True
        )
        return [q.event_from_row(row) for row in await self._db.fetch(sql, *values)]

    async def list_events(self, *, after_id: int = 0, limit: int = 100) -> list[Event]:
        rows = await self._db.fetch(q.SELECT_EVENTS, after_id, limit)
        return [q.event_from_row(row) for row in rows]

    # -- webhooks and the outbox ---------------------------------------------

    async def create_webhook(self, webhook: Webhook, event: NewEvent | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                q.INSERT_WEBHOOK,
                webhook.webhook_id,
                webhook.url,
                json.dumps(list(webhook.kinds)),
                webhook.sealed_secret,
                webhook.created_at,
            )
            await self._record(tx, webhook.created_at, event)

    async def list_webhooks(self) -> list[Webhook]:
        return [q.webhook_from_row(row) for row in await self._db.fetch(q.SELECT_WEBHOOKS)]

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        row = await self._db.fetchrow(q.SELECT_WEBHOOK, webhook_id)
        return None if row is None else q.webhook_from_row(row)

    async def delete_webhook(
        self, webhook_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        async with self._db.transaction() as tx:
            if not await tx.execute(q.DELETE_WEBHOOK, webhook_id, now):
                return False
            dropped = await tx.execute(q.DROP_WEBHOOK_DELIVERIES, webhook_id, now)
            await self._record(tx, now, event, deliveries_dropped=dropped)
        return True

    async def fan_out(
        self,
        now: float,
        targets: Callable[[Event, list[Webhook]], list[NewDelivery]],
        *,
        batch: int = 200,
    ) -> int:
        """Turn the events after the outbox cursor into deliveries, in one transaction
        that also moves the cursor; while another instance holds the cursor, do nothing.
        Returns how many events were fanned out."""
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(q.SELECT_OUTBOX_CURSOR + self._db.skip_locked)
            if row is None:
                return 0  # another instance is fanning out right now
            events = [q.event_from_row(r) for r in await tx.fetch(q.SELECT_EVENTS, row[0], batch)]
            if not events:
                return 0
            webhooks = [q.webhook_from_row(r) for r in await tx.fetch(q.SELECT_WEBHOOKS)]
            for event in events:
                for delivery in targets(event, webhooks):
                    await tx.execute(
                        q.INSERT_DELIVERY,
                        delivery.channel,
                        delivery.target,
                        event.event_id,
                        delivery.payload,
                        now,
                    )
            await tx.execute(q.ADVANCE_OUTBOX_CURSOR, events[-1].event_id)
        return len(events)

    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[Delivery]:
        """Due deliveries, each leased to this caller for `lease` seconds: with several
        instances every attempt is made by one (SKIP LOCKED on PostgreSQL)."""
        sql = q.CLAIM_DELIVERIES.format(lock=self._db.skip_locked)
        rows = await self._db.fetch(sql, now, now + lease, limit)
        return [q.delivery_from_row(row) for row in rows]

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        state: str,
        status: int | None,
        error: str | None,
        next_attempt_at: float,
        now: float,
    ) -> None:
        """After an attempt: delivered, pending again (at `next_attempt_at`), or dead."""
        finished = None if state == "pending" else now
        await self._db.execute(
            q.FINISH_DELIVERY, delivery_id, state, status, error, next_attempt_at, finished
        )

    async def page_deliveries(
        self,
        *,
        channel: str,
        target: str,
        state: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[Delivery]:
        filters: list[tuple[str, Any]] = [("channel = ?", channel), ("target = ?", target)]
        if state is not None:
            filters.append(("state = ?", state))
        clauses, values = q.numbered(filters)
        after = None if before_id is None else (before_id,)
        sql, values = q.page_sql(
            q.SELECT_DELIVERY_PAGE,
            clauses,
            values,
            ("delivery_id",),
            after,
            limit,
            newest_first=True,
        )
        return [q.delivery_from_row(row) for row in await self._db.fetch(sql, *values)]

    # -- keys --------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        return [q.key_from_row(row) for row in await self._db.fetch(q.SELECT_KEYS)]

    async def add_key(self, kind: str, sealed: bytes, now: float) -> int:
        async with self._db.transaction() as tx:
            await self._db.lock_keys(tx)
            row = await tx.fetchrow(q.NEXT_KID)
            assert row is not None
            kid = int(row[0])
            await tx.execute(q.INSERT_KEY, kid, kind, sealed, now)
        return kid

    async def add_keys(
        self, keys: list[tuple[str, bytes]], now: float, event: NewEvent | None = None
    ) -> list[int]:
        """Several new current keys (a rotation) in one transaction, with its event."""
        kids = []
        async with self._db.transaction() as tx:
            await self._db.lock_keys(tx)
            row = await tx.fetchrow(q.NEXT_KID)
            assert row is not None
            for offset, (kind, sealed) in enumerate(keys):
                kids.append(int(row[0]) + offset)
                await tx.execute(q.INSERT_KEY, kids[-1], kind, sealed, now)
            await self._record(tx, now, event, kids=kids)
        return kids

    async def retire_key(self, kid: int, now: float, event: NewEvent | None = None) -> bool:
        async with self._db.transaction() as tx:
            if not await tx.execute(q.RETIRE_KEY, kid, now):
                return False
            await self._record(tx, now, event, kid=kid)
        return True

    # -- maintenance -------------------------------------------------------

    async def claim_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        """Hold `name` until `now + seconds` if nobody else holds it now."""
        async with self._db.transaction() as tx:
            rows = await tx.fetch(q.CLAIM_LEASE, name, holder, now, now + seconds)
        return bool(rows)

    async def purge(
        self,
        now: float,
        *,
        batch: int,
        keep_seconds: float,
        resume: dict[str, float] | None = None,
    ) -> Purged:
        kept = now - keep_seconds
        # (scan, the table it counts toward, statement, the key it stops below)
        scans = (
            ("grants_expired", "grants", q.PURGE_EXPIRED_GRANTS, now),
            ("grants_revoked", "grants", q.PURGE_REVOKED_GRANTS, kept),
            ("events", "events", q.PURGE_EVENTS, kept),
            ("codes", "codes", q.PURGE_CODES, now - CODE_KEEP_SECONDS),
            ("sessions", "sessions", q.PURGE_SESSIONS, now),
            ("deliveries", "deliveries", q.PURGE_DELIVERIES, kept),
        )
        start = resume or {}
        deleted: dict[str, int] = {}
        stopped: dict[str, float] = {}
        async with self._db.transaction() as tx:
            for scan, table, statement, below in scans:
                since = start.get(scan, -math.inf)
                keys = [row[0] for row in await tx.fetch(statement, since, below, batch)]
                deleted[table] = deleted.get(table, 0) + len(keys)
                stopped[scan] = max(keys, default=since)
        return Purged(deleted, stopped)

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        async with self._db.transaction() as tx:
            await self._db.lock_schema(tx)
            await self._db.run_script(tx, CREATE_LEDGER)
            done = {row[0] for row in await tx.fetch("SELECT version FROM schema_migrations")}
            known = load_migrations(self._db.name)
            _refuse_newer(done, known)
            for migration in known:
                if migration.version in done:
                    continue
                await self._db.run_script(tx, migration.sql)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )
                applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    async def migration_status(self) -> tuple[list[str], list[str]]:
        async with self._db.transaction() as tx:
            done: set[int] = set()
            if await self._db.has_table(tx, "schema_migrations"):
                done = {row[0] for row in await tx.fetch("SELECT version FROM schema_migrations")}
        known = load_migrations(self._db.name)
        _refuse_newer(done, known)
        names = {m.version: f"{m.version:04d}_{m.name}" for m in known}
        applied = [names[v] for v in sorted(done)]
        return applied, [names[m.version] for m in known if m.version not in done]

    async def ping(self) -> None:
        await self._db.fetchrow("SELECT 1")

    async def close(self) -> None:
        await self._db.close()


def _names_no_grant(grant_id: bytes) -> bool:
    """An id of another length (from a form or a URL) names no grant; PostgreSQL's
    uuid column would refuse it as a protocol error rather than find nothing."""
    return len(grant_id) != GRANT_ID_BYTES


def _refuse_newer(done: set[int], known: list[Migration]) -> None:
    newest = max((m.version for m in known), default=0)
    unknown = sorted(version for version in done if version > newest)
    if unknown:
        raise SchemaTooNew(
            f"the database has migration {unknown[-1]:04d}, newer than this keyturn knows "
            f"({newest:04d}); run the newer keyturn, or restore a matching backup"
        )


def _reuse_event(grant: Grant, attempt: RefreshAttempt) -> NewEvent:
    return NewEvent(
        EventKind.REFRESH_TOKEN_REUSE,
        client_id=grant.client_id,
        user_id=grant.user_id,
        grant_id=grant.grant_id,
        ip=attempt.ip,
        detail={"presented": attempt.generation, "current": grant.refresh_generation},
    )


def _ignore(_kind: str) -> None:
    pass


__all__ = ["CLIENT_CACHE_SECONDS", "Row", "SqlStore"]
