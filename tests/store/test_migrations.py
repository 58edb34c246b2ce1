"""Upgrades are expand-only: rows written by the previous schema read back unchanged."""

from __future__ import annotations

import os
from typing import Any

import pytest

from keyturn.store import open_store
from keyturn.store import sql as sql_store
from keyturn.store.base import Store
from keyturn.store.migrations import Migration, load_migrations
from keyturn.store.sql import SqlStore
from tests.store.test_contract import NOW
from tests.support import create_database, drop_database

# The grants INSERT of schema 0002, as a keyturn of that release sends it.
OLD_INSERT_GRANT = (
    "INSERT INTO grants (grant_id, client_id, user_id, scope, access_scope, auth_time,"
    " created_at, expires_at, refresh_generation, access_generation, access_expires_at,"
    " rotated_at, last_used_at, last_ip, revoked_at, revoked_reason, has_refresh) VALUES"
    " ($1, 'app', NULL, 'offline_access', 'offline_access', NULL, $2, $3, 4, $4, $5, $2, $2,"
    " NULL, NULL, NULL, TRUE)"
)


async def _execute(store: Store, sql: str, *params: Any) -> None:
    """A statement as an older keyturn sends it, through the store's own dialect."""
    assert isinstance(store, SqlStore)
    await store._db.execute(sql, *params)


async def test_grants_from_before_0003_replay_as_they_always_did(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def up_to_0002(dialect: str) -> list[Migration]:
        return [m for m in load_migrations(dialect) if m.version <= 2]

    monkeypatch.setattr(sql_store, "load_migrations", up_to_0002)
    store = await open_store(database_url, pool_size=2, listen=False)
    try:
        assert await store.migrate() == ["0001_initial", "0002_authorization"]
        # The row a keyturn of that release wrote (today's code knows newer columns).
        await _execute(
            store,
            "INSERT INTO clients (client_id, name, access_ttl, refresh_ttl, created_at)"
            " VALUES ('app', 'App', 3600, 86400, $1)",
            NOW,
        )
        grant_id = os.urandom(16)
        await _execute(store, OLD_INSERT_GRANT, grant_id, NOW, NOW + 86400, 7, NOW + 3600)
        monkeypatch.undo()
        assert await store.migrate() == [
            "0003_access_revocation",
            "0004_event_actor",
            "0005_admin",
            "0006_signals",
            "0007_auth_level",
            "0008_leases",
            "0009_purge_indexes",
        ]
        grant = await store.get_grant(grant_id)
        assert grant is not None and grant.revoked_access_generation is None
        assert (grant.access_generation, grant.issued_access_generation) == (7, 7)
        # A revocation by a keyturn of the previous release still kills the token.
        await _execute(
            store,
            "UPDATE grants SET access_generation = access_generation + 1 WHERE grant_id = $1",
            grant_id,
        )
        grant = await store.get_grant(grant_id)
        assert grant is not None and grant.issued_access_generation == 8
    finally:
        await store.close()


async def test_grants_are_vacuumed_after_two_percent_of_them_changed() -> None:
    # An autovacuum setting: PostgreSQL's alone.
    url = await create_database()
    store = await open_store(url, pool_size=2, listen=False)
    try:
        await store.migrate()
        assert isinstance(store, SqlStore)
        row = await store._db.fetchrow("SELECT reloptions FROM pg_class WHERE relname = 'grants'")
        assert row is not None
        assert set(row[0]) == {
            "autovacuum_vacuum_scale_factor=0.02",
            "autovacuum_analyze_scale_factor=0.02",
        }
    finally:
        await store.close()
        await drop_database(url)
