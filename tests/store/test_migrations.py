"""Rows written under an earlier schema read back unchanged after the upgrade."""

from __future__ import annotations

import os
from typing import Any

import pytest

from keyturn.store import open_store
from keyturn.store import sql as sql_store
from keyturn.store.base import Store
from keyturn.store.migrations import Migration, load_migrations
from keyturn.store.records import Advanced
from keyturn.store.sql import SqlStore
from tests.store.test_contract import NOW, attempt
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
            "0010_compact_grants",
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


# Grants as a keyturn on schema 0009 wrote them: an access scope narrowed by a refresh
# and one equal to the scope, an IPv6 address, a peer that is no address at all, and
# the network columns the rewrite drops.
INSERT_0009_GRANT = (
    "INSERT INTO grants (grant_id, client_id, user_id, scope, access_scope, auth_time,"
    " created_at, expires_at, refresh_generation, access_generation, access_expires_at,"
    " rotated_at, last_used_at, last_ip, revoked_at, revoked_reason, has_refresh,"
    " revoked_access_generation, network, prev_network, prev_used_at, window_start,"
    " window_count, auth_level) VALUES"
    " ($1, 'app', NULL, 'openid offline_access', $2, $3, $3, $4, $5, $6, $7, $3, $3, $8,"
    " $9, $10, TRUE, $11, 'n', 'p', $3, $3, 3, $12)"
)


async def test_the_compact_rewrite_keeps_every_grant_as_it_was(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def up_to_0009(dialect: str) -> list[Migration]:
        return [m for m in load_migrations(dialect) if m.version <= 9]

    monkeypatch.setattr(sql_store, "load_migrations", up_to_0009)
    store = await open_store(database_url, pool_size=2, listen=False)
    rows = [
        # access scope, ip, revoked at, reason, revoked access generation, level
        ("openid offline_access", "203.0.113.7", None, None, None, 1),
        ("openid", "2001:db8:1::5", None, None, 6, 2),
        ("openid offline_access", "testclient", NOW + 5, "revoked_by_user", None, 1),
        ("openid offline_access", "::ffff:192.0.2.9", None, None, None, 1),  # dual stack
    ]
    ids = [os.urandom(16) for _ in rows]
    try:
        await store.migrate()
        await _execute(
            store,
            "INSERT INTO clients (client_id, name, access_ttl, refresh_ttl, created_at)"
            " VALUES ('app', 'App', 3600, 86400, $1)",
            NOW,
        )
        for grant_id, (scope, ip, revoked, reason, revoked_gen, level) in zip(
            ids, rows, strict=True
        ):
            await _execute(
                store, INSERT_0009_GRANT, grant_id, scope, NOW, NOW + 86400, 4, 7,
                NOW + 3600, ip, revoked, reason, revoked_gen, level,
            )  # fmt: skip
        monkeypatch.undo()
        assert await store.migrate() == ["0010_compact_grants"]
        found = [await store.get_grant(grant_id) for grant_id in ids]
        assert [g and (g.grant_id, g.access_scope, g.last_ip) for g in found] == [
            (ids[0], "openid offline_access", "203.0.113.7"),
            (ids[1], "openid", "2001:db8:1::5"),
            (ids[2], "openid offline_access", None),  # not an address: kept as none
            (ids[3], "openid offline_access", "192.0.2.9"),  # the IPv4 address it is
        ]
        for grant, (_, _, revoked, reason, revoked_gen, level) in zip(found, rows, strict=True):
            assert grant is not None
            assert (grant.refresh_generation, grant.access_generation) == (4, 7)
            assert (grant.created_at, grant.expires_at, grant.access_expires_at) == (
                NOW,
                NOW + 86400,
                NOW + 3600,
            )
            assert (grant.revoked_at, grant.revoked_reason) == (revoked, reason)
            assert (grant.revoked_access_generation, grant.auth_level) == (revoked_gen, level)
            assert (grant.window_count, grant.scope) == (3, "openid offline_access")
        # The chain goes on from the generation it had, and the previous use is the
        # row as the rewrite left it.
        advanced = await store.advance_refresh(
            attempt(ids[0], 4, now=NOW + 60, ip="198.51.100.9", client_id="app")
        )
        assert isinstance(advanced, Advanced)
        assert advanced.grant.refresh_generation == 5
        assert (advanced.grant.prev_ip, advanced.grant.prev_used_at) == ("203.0.113.7", NOW)
        assert (advanced.grant.prev_network, advanced.grant.network) == (
            "203.0.113.0/24",
            "198.51.100.0/24",
        )
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
