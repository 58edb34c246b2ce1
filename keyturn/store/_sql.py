"""SQL shared by both backends, written with PostgreSQL's `$n` placeholders.

SQLite understands `?NNN`, so `sqlite_dialect()` rewrites the placeholders and
the statements stay one text. Every hot-path statement touches one grant row
by primary key, which keeps them portable to sharded PostgreSQL-compatible
databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Protocol

from keyturn.store.networks import stored_ip
from keyturn.store.records import (
    AuthorizationCode,
    Client,
    Delivery,
    Event,
    Grant,
    NewEvent,
    NewGrant,
    RefreshAttempt,
    Session,
    StoredKey,
    User,
    Webhook,
)


class Row(Protocol):
    """A result row: a tuple from sqlite3 or an asyncpg Record."""

    def __getitem__(self, index: int, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


CLIENT_COLUMNS = (
    "client_id, name, secret_hash, redirect_uris, scope, grant_types, access_ttl,"
    " refresh_ttl, rotation, grace_seconds, idle_ttl, always_refresh, disabled,"
    " created_at, rate_limit, id_token_alg, access_token_format, admin, allowed_origins,"
    " require_mfa"
)
USER_COLUMNS = (
    "user_id, email, password_hash, owner_client_id, registration_code_hash,"
    " claimed_at, enhanced_security, created_at, disabled"
)
# The grants table stores the access scope only where a refresh narrowed it (NULL:
# the grant's own scope), so reads say COALESCE and writes say NULLIF.
GRANT_COLUMNS = (
    "grant_id, client_id, user_id, scope, access_scope, auth_time, created_at,"
    " expires_at, refresh_generation, access_generation, access_expires_at,"
    " rotated_at, last_used_at, last_ip, revoked_at, revoked_reason, has_refresh,"
    " revoked_access_generation, window_count, auth_level"
)


_GRANT_NAMES = GRANT_COLUMNS.split(", ")


def _grant_read(table: str = "") -> str:
    """GRANT_COLUMNS as a SELECT or RETURNING list (qualified by `table` if given)."""
    t = f"{table}." if table else ""
    return ", ".join(
        f"COALESCE({t}access_scope, {t}scope)" if name == "access_scope" else t + name
        for name in _GRANT_NAMES
    )


GRANT_READ = _grant_read()
EVENT_COLUMNS = "event_id, at, kind, client_id, user_id, grant_id, ip, detail, actor"
KEY_COLUMNS = "kid, kind, sealed, created_at, retired_at"

_PLACEHOLDER = re.compile(r"\$(\d+)")


def sqlite_dialect(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


# -- clients -----------------------------------------------------------------

INSERT_CLIENT = (
    f"INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 21))})"
)
# A deleted client's row stays (grants and events name it) but nothing finds it.
SELECT_CLIENT = f"SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1 AND deleted_at IS NULL"
SELECT_CLIENTS = (
    f"SELECT {CLIENT_COLUMNS} FROM clients WHERE deleted_at IS NULL ORDER BY created_at, client_id"
)
UPDATE_CLIENT = (
    "UPDATE clients SET name = $2, redirect_uris = $3, scope = $4, grant_types = $5,"
    " access_ttl = $6, refresh_ttl = $7, rotation = $8, grace_seconds = $9, idle_ttl = $10,"
    " always_refresh = $11, rate_limit = $12, id_token_alg = $13, access_token_format = $14,"
    " admin = $15, allowed_origins = $16, require_mfa = $17"
    " WHERE client_id = $1 AND deleted_at IS NULL"
)
ENABLE_CLIENT = "UPDATE clients SET disabled = FALSE WHERE client_id = $1 AND deleted_at IS NULL"
DELETE_CLIENT = (
    "UPDATE clients SET deleted_at = $2, disabled = TRUE WHERE client_id = $1"
    " AND deleted_at IS NULL"
)
DELETE_CLIENT_CONSENTS = "DELETE FROM consents WHERE client_id = $1"
UPDATE_CLIENT_SECRET = (
    "UPDATE clients SET secret_hash = $2 WHERE client_id = $1 AND secret_hash IS NOT NULL"
)
DISABLE_CLIENT = "UPDATE clients SET disabled = TRUE WHERE client_id = $1 AND deleted_at IS NULL"

# -- users -------------------------------------------------------------------

INSERT_USER = f"INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
# A deleted user's row keeps only its id; nothing finds it.
# Read with the two-step state: the secrets (sealed) and the unused recovery codes.
USER_READ_COLUMNS = (
    f"{USER_COLUMNS}, totp_sealed, (SELECT count(*) FROM recovery_codes r"
    " WHERE r.user_id = users.user_id AND r.used_at IS NULL)"
)
SELECT_USER = f"SELECT {USER_READ_COLUMNS} FROM users WHERE user_id = $1 AND deleted_at IS NULL"
SELECT_USER_BY_EMAIL = (
    f"SELECT {USER_READ_COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL"
)
SET_USER_DISABLED = "UPDATE users SET disabled = $2 WHERE user_id = $1 AND deleted_at IS NULL"
# Erasure: the email (unique, so replaced by a tombstone naming only the id), the
# password and the registration code go; the id stays for the events that name it.
ERASE_USER = (
    "UPDATE users SET email = 'deleted:' || user_id, password_hash = NULL,"
    " registration_code_hash = NULL, totp_sealed = NULL, totp_pending = NULL,"
    " disabled = TRUE, deleted_at = $2"
    " WHERE user_id = $1 AND deleted_at IS NULL"
)
END_USER_SESSIONS = "DELETE FROM sessions WHERE user_id = $1"
DELETE_USER_CONSENTS = "DELETE FROM consents WHERE user_id = $1"
DELETE_USER_CODES = "DELETE FROM authorization_codes WHERE user_id = $1 AND used_at IS NULL"
CLAIM_USER = (
    "UPDATE users SET password_hash = $2, claimed_at = $3, registration_code_hash = NULL"
    " WHERE user_id = $1 AND claimed_at IS NULL"
)
SET_PASSWORD = "UPDATE users SET password_hash = $2 WHERE user_id = $1"
SET_ENHANCED_SECURITY = "UPDATE users SET enhanced_security = $2 WHERE user_id = $1"

# -- two-step verification ---------------------------------------------------

# The secret the user was shown and confirmed becomes theirs, once: not over another.
ENABLE_TOTP = (
    "UPDATE users SET totp_sealed = $2, totp_pending = NULL, totp_last_step = $3"
    " WHERE user_id = $1 AND totp_sealed IS NULL AND deleted_at IS NULL"
)
DISABLE_TOTP = (
    "UPDATE users SET totp_sealed = NULL, totp_pending = NULL, totp_last_step = NULL"
    " WHERE user_id = $1 AND totp_sealed IS NOT NULL"
)
# A code is accepted once: its step must come after the last step accepted.
ACCEPT_TOTP_STEP = (
    "UPDATE users SET totp_last_step = $2 WHERE user_id = $1 AND totp_sealed IS NOT NULL"
    " AND (totp_last_step IS NULL OR totp_last_step < $2)"
)
USE_RECOVERY_CODE = (
    "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2"
    " AND used_at IS NULL AND EXISTS (SELECT 1 FROM users u WHERE u.user_id = $1"
    " AND u.totp_sealed IS NOT NULL)"
)
INSERT_RECOVERY_CODE = "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)"
DELETE_RECOVERY_CODES = "DELETE FROM recovery_codes WHERE user_id = $1"
# A session whose level rises gets a new token (its hash, $5): a copy of the old
# cookie taken before does not rise with it.
RAISE_SESSION_LEVEL = (
    "UPDATE sessions SET auth_level = $3, auth_time = $4, session_hash = $5"
    " WHERE session_hash = $1 AND user_id = $2"
)
SET_SESSION_LEVEL = "UPDATE sessions SET auth_level = $2, session_hash = $3 WHERE session_hash = $1"

# -- grants ------------------------------------------------------------------

INSERT_GRANT = (
    f"INSERT INTO grants ({GRANT_COLUMNS}) VALUES"
    " ($1, $2, $3, $4, NULL, $5, $6, $7, 0, 0, $8, $6, $6, $9, NULL, NULL, $10, NULL, 0, $11)"
    f" RETURNING {GRANT_READ}"
)
SELECT_GRANT = f"SELECT {GRANT_READ} FROM grants WHERE grant_id = $1"

# The refresh itself (RFC 6749 §6): one conditional UPDATE of one row. The
# WHERE clause is the whole validity check, so of many concurrent callers
# presenting the same generation exactly one matches.
#   $1 grant_id  $2 client_id  $3 presented generation  $4 now
#   $5 rotate (0 or 1)  $6 access scope or NULL for the grant's scope
#   $7 access expiry  $8 idle cutoff  $9 ip  $10 the client's minimum
#   authentication level (a grant issued below it is refused: policy_changed)
# It also counts the refreshes in the current window of one access-token
# lifetime ($7 - $4), for the anomaly signals.
_ADVANCE_SET = (
    "UPDATE grants SET refresh_generation = refresh_generation + $5,"
    " access_generation = access_generation + 1,"
    " access_scope = NULLIF($6, scope),"
    " access_expires_at = CASE WHEN $7 < expires_at THEN $7 ELSE expires_at END,"
    " rotated_at = $4, last_used_at = $4, last_ip = $9,"
    " window_count = CASE WHEN $4 - window_start < $7 - $4 THEN window_count + 1 ELSE 1 END,"
    " window_start = CASE WHEN $4 - window_start < $7 - $4 THEN window_start ELSE $4 END"
)
_ADVANCE_WHERE = (
    " WHERE grant_id = $1 AND client_id = $2 AND refresh_generation = $3"
    " AND has_refresh AND revoked_at IS NULL AND expires_at > $4 AND last_used_at >= $8"
    " AND auth_level >= $10"
)


# PostgreSQL: the signals also want the address and time of the use before this
# one. RETURNING sees only the new row, so the statement joins the row as it was;
# the row stores no copy of them. Which version it joins matters only when another
# refresh of the same grant commits while this one runs: PostgreSQL then rechecks
# the WHERE clause on the newer row. A rotating refresh fails that recheck (the
# generation moved on) and updates nothing, so the plain join (the statement's
# snapshot) suffices. (Only a refresh of the same grant without rotation committing
# meanwhile, its client's setting changed while both were in flight, would leave
# the rotating one's signals comparing with the use before.) Without rotation both
# succeed, and the second must see the first's use, not the one before it, or both
# would report the same move: that statement locks the joined row first (FOR
# UPDATE), so it is the very version the UPDATE replaces. The lock costs
# PostgreSQL about a quarter more CPU a refresh.
def _advance_refresh(lock: str) -> str:
    return (
        _ADVANCE_SET
        + " FROM (SELECT last_ip AS prev_ip, last_used_at AS prev_used_at FROM grants"
        + f" WHERE grant_id = $1{lock}) AS old"
        + _ADVANCE_WHERE
        + f" RETURNING {GRANT_READ}, prev_ip, prev_used_at"
    )


ADVANCE_ROTATION = _advance_refresh("")
ADVANCE_REFRESH = _advance_refresh(" FOR UPDATE")
# SQLite (whose RETURNING cannot name another table): the same UPDATE alone, run
# inside a write transaction after reading SELECT_PREVIOUS_USE.
ADVANCE_REFRESH_IN_PLACE = _ADVANCE_SET + _ADVANCE_WHERE + f" RETURNING {GRANT_READ}"
SELECT_PREVIOUS_USE = "SELECT last_ip, last_used_at FROM grants WHERE grant_id = $1"

# PostgreSQL only: the same refresh for many grants in one statement (see
# store/batching.py). Each parameter is an array with one element per attempt,
# in the order of ADVANCE_REFRESH's parameters; each returned row is a grant
# that advanced. Callers never put one grant_id twice in a batch. As above, a
# batch of rotations joins the rows as they were, and a batch with any refresh that
# does not rotate locks them first, in key order, so that two such batches lock
# their rows in the same order and rarely deadlock.
_G_GRANT_READ = _grant_read("g")


def _advance_refresh_batch(lock: str) -> str:
    return (
        "UPDATE grants AS g SET refresh_generation = g.refresh_generation + a.rotate,"
        " access_generation = g.access_generation + 1,"
        " access_scope = NULLIF(a.access_scope, g.scope),"
        " access_expires_at = CASE WHEN a.access_expires_at < g.expires_at"
        " THEN a.access_expires_at ELSE g.expires_at END,"
        " rotated_at = a.now, last_used_at = a.now, last_ip = a.ip,"
        " window_count = CASE WHEN a.now - g.window_start < a.access_expires_at - a.now"
        " THEN g.window_count + 1 ELSE 1 END,"
        " window_start = CASE WHEN a.now - g.window_start < a.access_expires_at - a.now"
        " THEN g.window_start ELSE a.now END"
        " FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::float8[], $5::int[],"
        " $6::text[], $7::float8[], $8::float8[], $9::inet[], $10::int[])"
        " AS a(grant_id, client_id, generation, now, rotate, access_scope, access_expires_at,"
        " idle_cutoff, ip, min_level),"
        " (SELECT grant_id AS prev_of, last_ip AS prev_ip, last_used_at AS prev_used_at"
        f" FROM grants WHERE grant_id = ANY($1::uuid[]){lock}) AS old"
        # The ANY() restates the join key so the primary-key index is used even
        # before the planner has statistics (a fresh database).
        " WHERE g.grant_id = ANY($1::uuid[]) AND g.grant_id = a.grant_id"
        " AND old.prev_of = a.grant_id AND g.client_id = a.client_id"
        " AND g.refresh_generation = a.generation AND g.has_refresh AND g.revoked_at IS NULL"
        " AND g.expires_at > a.now AND g.last_used_at >= a.idle_cutoff"
        " AND g.auth_level >= a.min_level"
        f" RETURNING {_G_GRANT_READ}, old.prev_ip, old.prev_used_at"
    )


ADVANCE_ROTATION_BATCH = _advance_refresh_batch("")
ADVANCE_REFRESH_BATCH = _advance_refresh_batch(" ORDER BY grant_id FOR UPDATE")
SELECT_GRANTS_BY_ID = f"SELECT {GRANT_READ} FROM grants WHERE grant_id = ANY($1::uuid[])"

REVOKE_GRANT = (
    "UPDATE grants SET revoked_at = $3, revoked_reason = $2"
    " WHERE grant_id = $1 AND revoked_at IS NULL"
)
REVOKE_GRANT_OF_CLIENT = REVOKE_GRANT + " AND client_id = $4"
# RFC 7009 for an access token: moving access_generation on kills the token
# on every instance, old and new; remembering which generation was retired lets
# a retry inside the grace window rebuild what the refresh issued
# (`Grant.issued_access_generation`). The refresh statements never touch it.
REVOKE_ACCESS = (
    "UPDATE grants SET access_generation = access_generation + 1,"
    " revoked_access_generation = access_generation"
    " WHERE grant_id = $1 AND access_generation = $2"
)
INSERT_EVENT = (
    "INSERT INTO events (at, kind, client_id, user_id, grant_id, ip, detail, actor)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)


def revoke_grants_sql(user_id: str | None, client_id: str | None) -> tuple[str, list[str]]:
    """`UPDATE` revoking every live grant matching the owner filters ($1 reason, $2 now)."""
    clauses, values = _owner_filter(user_id, client_id, first=3)
    sql = "UPDATE grants SET revoked_at = $2, revoked_reason = $1 WHERE revoked_at IS NULL"
    return sql + "".join(f" AND {clause}" for clause in clauses), values


def list_grants_sql(
    user_id: str | None, client_id: str | None, include_inactive: bool, now: float
) -> tuple[str, list[Any]]:
    """`SELECT` of grants matching the owner filters, live ones only unless asked."""
    values: list[Any] = []
    clauses: list[str] = []
    if not include_inactive:
        values.append(now)
        clauses.append("revoked_at IS NULL AND expires_at > $1")
    owner_clauses, owner_values = _owner_filter(user_id, client_id, first=len(values) + 1)
    where = " AND ".join(clauses + owner_clauses) or "TRUE"
    return f"SELECT {GRANT_READ} FROM grants WHERE {where} ORDER BY created_at", [
        *values,
        *owner_values,
    ]


def _owner_filter(
    user_id: str | None, client_id: str | None, *, first: int
) -> tuple[list[str], list[str]]:
    clauses: list[str] = []
    values: list[str] = []
    for column, value in (("user_id", user_id), ("client_id", client_id)):
        if value is not None:
            values.append(value)
            clauses.append(f"{column} = ${first + len(values) - 1}")
    return clauses, values


# -- authorization codes, sessions, consent ---------------------------------------

CODE_COLUMNS = (
    "code_hash, client_id, user_id, redirect_uri, scope, code_challenge, nonce,"
    " auth_time, expires_at, used_at, grant_id, auth_level"
)
INSERT_CODE = (
    f"INSERT INTO authorization_codes ({CODE_COLUMNS})"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10)"
)
SELECT_CODE = f"SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1"
# Single use (RFC 6749 §4.1.2): of two concurrent exchanges exactly one matches.
REDEEM_CODE = (
    "UPDATE authorization_codes SET used_at = $2, grant_id = $3"
    " WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2"
)
# A password-only session only for a user without two-step verification, checked in
# the insert itself: a sign-in racing the moment it is turned on gets no session.
INSERT_SESSION = (
    "INSERT INTO sessions (session_hash, user_id, auth_time, expires_at, auth_level)"
    " SELECT $1, $2, $3, $4, $5 WHERE $5 >= 2 OR NOT EXISTS"
    " (SELECT 1 FROM users WHERE user_id = $2 AND totp_sealed IS NOT NULL)"
)
SELECT_SESSION = (
    "SELECT session_hash, user_id, auth_time, expires_at, auth_level FROM sessions"
    " WHERE session_hash = $1 AND expires_at > $2"
)
DELETE_SESSION = "DELETE FROM sessions WHERE session_hash = $1"
END_OTHER_SESSIONS = "DELETE FROM sessions WHERE user_id = $1 AND session_hash <> $2"
SELECT_CONSENT = "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2"
SAVE_CONSENT = (
    "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope,"
    " granted_at = excluded.granted_at"
)
DELETE_CONSENT = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2"


def code_values(code: AuthorizationCode) -> tuple[Any, ...]:
    return (
        code.code_hash,
        code.client_id,
        code.user_id,
        code.redirect_uri,
        code.scope,
        code.code_challenge,
        code.nonce,
        code.auth_time,
        code.expires_at,
        code.auth_level,
    )


def code_from_row(row: Row) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=bytes(row[0]),
        client_id=row[1],
        user_id=row[2],
        redirect_uri=row[3],
        scope=row[4],
        code_challenge=row[5],
        nonce=row[6],
        auth_time=row[7],
        expires_at=row[8],
        used_at=row[9],
        grant_id=None if row[10] is None else bytes(row[10]),
        auth_level=row[11],
    )


def session_from_row(row: Row) -> Session:
    return Session(
        session_hash=bytes(row[0]),
        user_id=row[1],
        auth_time=row[2],
        expires_at=row[3],
        auth_level=row[4],
    )


# -- pages of lists -------------------------------------------------------------


def page_sql(
    select: str,
    clauses: list[str],
    values: list[Any],
    order: tuple[str, ...],
    after: tuple[Any, ...] | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> tuple[str, list[Any]]:
    """One page in a stable order: rows after the `after` key (the previous page's
    last row's `order` columns), keyset pagination that no insert can shift."""
    clauses, values = list(clauses), list(values)
    if after is not None:
        first = len(values) + 1
        marks = ", ".join(f"${first + i}" for i in range(len(after)))
        clauses.append(f"({', '.join(order)}) {'<' if newest_first else '>'} ({marks})")
        values.extend(after)
    direction = " DESC" if newest_first else ""
    where = " AND ".join(clauses) or "TRUE"
    ordering = ", ".join(column + direction for column in order)
    values.append(limit)
    return f"{select} WHERE {where} ORDER BY {ordering} LIMIT ${len(values)}", values


def numbered(clauses: list[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
    """Filters written with `?` for their one value, numbered in order."""
    out, values = [], []
    for clause, value in clauses:
        values.append(value)
        out.append(clause.replace("?", f"${len(values)}"))
    return out, values


SELECT_CLIENT_PAGE = f"SELECT {CLIENT_COLUMNS} FROM clients"
SELECT_USER_PAGE = f"SELECT {USER_READ_COLUMNS} FROM users"
SELECT_GRANT_PAGE = f"SELECT {GRANT_READ} FROM grants"
SELECT_EVENT_PAGE = f"SELECT {EVENT_COLUMNS} FROM events"

# -- events and keys -----------------------------------------------------------

SELECT_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id > $1 ORDER BY event_id LIMIT $2"
SELECT_KEYS = f"SELECT {KEY_COLUMNS} FROM keys ORDER BY kid"
NEXT_KID = "SELECT COALESCE(MAX(kid), 0) + 1 FROM keys"
INSERT_KEY = "INSERT INTO keys (kid, kind, sealed, created_at) VALUES ($1, $2, $3, $4)"
RETIRE_KEY = "UPDATE keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL"

# -- webhooks and the outbox ---------------------------------------------------

WEBHOOK_COLUMNS = "webhook_id, url, kinds, sealed_secret, created_at"
INSERT_WEBHOOK = f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
SELECT_WEBHOOKS = (
    f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL"
    " ORDER BY created_at, webhook_id"
)
SELECT_WEBHOOK = (
    f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = $1 AND deleted_at IS NULL"
)
DELETE_WEBHOOK = "UPDATE webhooks SET deleted_at = $2 WHERE webhook_id = $1 AND deleted_at IS NULL"
# Its pending deliveries go with it: nobody is listening there any more.
DROP_WEBHOOK_DELIVERIES = (
    "UPDATE deliveries SET state = 'dead', last_error = 'webhook deleted', finished_at = $2"
    " WHERE channel = 'webhook' AND target = $1 AND state = 'pending'"
)
SELECT_OUTBOX_CURSOR = "SELECT event_id FROM outbox_cursor WHERE name = 'events'"
ADVANCE_OUTBOX_CURSOR = "UPDATE outbox_cursor SET event_id = $1 WHERE name = 'events'"
INSERT_DELIVERY = (
    "INSERT INTO deliveries (channel, target, event_id, payload, next_attempt_at, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $5)"
)
DELIVERY_COLUMNS = (
    "delivery_id, channel, target, event_id, payload, state, attempts, next_attempt_at,"
    " last_status, last_error, created_at, finished_at"
)
# One attempt each: a lease, so an instance killed mid-attempt leaves it to another
# once the lease runs out ($1 now, $2 lease end, $3 how many).
CLAIM_DELIVERIES = (
    "UPDATE deliveries SET lease_until = $2, attempts = attempts + 1"
    " WHERE delivery_id IN (SELECT delivery_id FROM deliveries WHERE state = 'pending'"
    " AND next_attempt_at <= $1 AND lease_until <= $1 ORDER BY next_attempt_at LIMIT $3{lock})"
    f" RETURNING {DELIVERY_COLUMNS}"
)
FINISH_DELIVERY = (
    "UPDATE deliveries SET state = $2, last_status = $3, last_error = $4,"
    " next_attempt_at = $5, lease_until = 0, finished_at = $6 WHERE delivery_id = $1"
)
SELECT_DELIVERY_PAGE = f"SELECT {DELIVERY_COLUMNS} FROM deliveries"


def webhook_from_row(row: Row) -> Webhook:
    return Webhook(
        webhook_id=row[0],
        url=row[1],
        kinds=tuple(json.loads(row[2])),
        sealed_secret=bytes(row[3]),
        created_at=row[4],
    )


def delivery_from_row(row: Row) -> Delivery:
    return Delivery(
        delivery_id=row[0],
        channel=row[1],
        target=row[2],
        event_id=row[3],
        payload=row[4],
        state=row[5],
        attempts=row[6],
        next_attempt_at=row[7],
        last_status=row[8],
        last_error=row[9],
        created_at=row[10],
        finished_at=row[11],
    )


# -- maintenance ---------------------------------------------------------------


# Bounded batches in key order: each picks at most $3 rows whose key lies in
# [$1, $2), through the key's index, and returns the keys it deleted so that the
# next batch starts at the largest of them. Rows sharing that key and left out by
# the limit are found again, since the lower bound is inclusive.
def _purge(table: str, row_id: str, key: str) -> str:
    return (
        f"DELETE FROM {table} WHERE {row_id} IN (SELECT {row_id} FROM {table}"
        f" WHERE {key} >= $1 AND {key} < $2 ORDER BY {key} LIMIT $3)"
        f" RETURNING {key}"
    )


PURGE_EXPIRED_GRANTS = _purge("grants", "grant_id", "expires_at")
PURGE_REVOKED_GRANTS = _purge("grants", "grant_id", "revoked_at")
PURGE_EVENTS = _purge("events", "event_id", "at")
PURGE_CODES = _purge("authorization_codes", "code_hash", "expires_at")
PURGE_SESSIONS = _purge("sessions", "session_hash", "expires_at")
# Finished deliveries (delivered or dead) go with the events of their age.
PURGE_DELIVERIES = _purge("deliveries", "delivery_id", "finished_at")


# -- row conversion ------------------------------------------------------------


def client_values(client: Client) -> tuple[Any, ...]:
    return (
        client.client_id,
        client.name,
        client.secret_hash,
        json.dumps(list(client.redirect_uris)),
        client.scope,
        json.dumps(list(client.grant_types)),
        client.access_ttl,
        client.refresh_ttl,
        client.rotation,
        client.grace_seconds,
        client.idle_ttl,
        client.always_refresh,
        client.disabled,
        client.created_at,
        client.rate_limit,
        client.id_token_alg,
        client.access_token_format,
        client.admin,
        json.dumps(list(client.allowed_origins)),
        client.require_mfa,
    )


def client_update_values(client: Client) -> tuple[Any, ...]:
    """UPDATE_CLIENT's parameters: everything but the id's, secret's and state's columns."""
    return (
        client.client_id,
        client.name,
        json.dumps(list(client.redirect_uris)),
        client.scope,
        json.dumps(list(client.grant_types)),
        client.access_ttl,
        client.refresh_ttl,
        client.rotation,
        client.grace_seconds,
        client.idle_ttl,
        client.always_refresh,
        client.rate_limit,
        client.id_token_alg,
        client.access_token_format,
        client.admin,
        json.dumps(list(client.allowed_origins)),
        client.require_mfa,
    )


def client_from_row(row: Row) -> Client:
    return Client(
        client_id=row[0],
        name=row[1],
        secret_hash=None if row[2] is None else bytes(row[2]),
        redirect_uris=tuple(json.loads(row[3])),
        scope=row[4],
        grant_types=tuple(json.loads(row[5])),
        access_ttl=row[6],
        refresh_ttl=row[7],
        rotation=bool(row[8]),
        grace_seconds=row[9],
        idle_ttl=row[10],
        always_refresh=bool(row[11]),
        disabled=bool(row[12]),
        created_at=row[13],
        rate_limit=row[14],
        id_token_alg=row[15],
        access_token_format=row[16],
        admin=bool(row[17]),
        allowed_origins=tuple(json.loads(row[18])),
        require_mfa=bool(row[19]),
    )


def user_values(user: User) -> tuple[Any, ...]:
    return (
        user.user_id,
        user.email,
        user.password_hash,
        user.owner_client_id,
        user.registration_code_hash,
        user.claimed_at,
        user.enhanced_security,
        user.created_at,
        user.disabled,
    )


def user_from_row(row: Row) -> User:
    return User(
        user_id=row[0],
        email=row[1],
        password_hash=row[2],
        owner_client_id=row[3],
        registration_code_hash=row[4],
        claimed_at=row[5],
        enhanced_security=bool(row[6]),
        created_at=row[7],
        disabled=bool(row[8]),
        totp_sealed=None if row[9] is None else bytes(row[9]),
        recovery_codes_left=int(row[10]),
    )


def new_grant_values(new: NewGrant) -> tuple[Any, ...]:
    return (
        new.grant_id,
        new.client_id,
        new.user_id,
        new.scope,
        new.auth_time,
        new.created_at,
        new.expires_at,
        new.access_expires_at,
        stored_ip(new.ip),
        new.has_refresh,
        new.auth_level,
    )


def refresh_values(attempt: RefreshAttempt) -> tuple[Any, ...]:
    """ADVANCE_REFRESH's parameters, in order (also one column of the batch form)."""
    return (
        attempt.grant_id,
        attempt.client_id,
        attempt.generation,
        attempt.now,
        1 if attempt.rotate else 0,
        attempt.access_scope,
        attempt.now + attempt.access_ttl,
        attempt.idle_cutoff,
        stored_ip(attempt.ip),
        attempt.min_auth_level,
    )


def grant_from_row(row: Row) -> Grant:
    """A grant from GRANT_READ's columns, followed (on a refresh's row) by the
    previous use's address and time."""
    refreshed = len(row) > len(_GRANT_NAMES)
    return Grant(
        grant_id=bytes(row[0]),
        client_id=row[1],
        user_id=row[2],
        scope=row[3],
        access_scope=row[4],
        auth_time=row[5],
        created_at=row[6],
        expires_at=row[7],
        refresh_generation=row[8],
        access_generation=row[9],
        access_expires_at=row[10],
        rotated_at=row[11],
        last_used_at=row[12],
        last_ip=row[13],
        revoked_at=row[14],
        revoked_reason=row[15],
        has_refresh=bool(row[16]),
        revoked_access_generation=row[17],
        window_count=row[18],
        auth_level=row[19],
        prev_ip=row[20] if refreshed else None,
        prev_used_at=row[21] if refreshed else None,
    )


def event_from_row(row: Row) -> Event:
    return Event(
        event_id=row[0],
        at=row[1],
        kind=row[2],
        client_id=row[3],
        user_id=row[4],
        grant_id=None if row[5] is None else bytes(row[5]),
        ip=row[6],
        detail=json.loads(row[7]),
        actor=row[8],
    )


def event_values(at: float, event: NewEvent, **more_detail: object) -> tuple[Any, ...]:
    """INSERT_EVENT's parameters; `more_detail` adds what only the transaction knew."""
    detail = json.dumps({**event.detail, **more_detail})
    return (
        at,
        str(event.kind),
        event.client_id,
        event.user_id,
        event.grant_id,
        event.ip,
        detail,
        event.actor,
    )


def key_from_row(row: Row) -> StoredKey:
    return StoredKey(
        kid=row[0], kind=row[1], sealed=bytes(row[2]), created_at=row[3], retired_at=row[4]
    )


# -- leases --------------------------------------------------------------------

# Taken when free or expired, or renewed by its holder; the row comes back only then.
CLAIM_LEASE = (
    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $4)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
    " WHERE leases.expires_at < $3 OR leases.holder = $2"
    " RETURNING holder"
)
