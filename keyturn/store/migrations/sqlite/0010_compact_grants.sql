-- The grants table in the layout the PostgreSQL one has after the same migration:
-- the access scope NULL when it equals the grant's scope, and no network columns
-- or copy of the previous use (the network is worked out from the address, and a
-- refresh reads the previous address and time from the row before updating it).
-- SQLite drops neither a NOT NULL nor a column in use without a rebuild, so the
-- table is copied into a new one that takes its name. The address becomes what
-- keyturn stores from now on: a peer that cannot be one (a test client's name: a
-- character no address has) NULL, and an IPv4 client seen on a dual-stack socket
-- (::ffff:192.0.2.9) its IPv4 address, so that its next refresh does not look like a
-- move to another network.
CREATE TABLE grants_compact (
    grant_id                   BLOB PRIMARY KEY,
    client_id                  TEXT NOT NULL REFERENCES clients (client_id),
    user_id                    TEXT REFERENCES users (user_id),
    scope                      TEXT NOT NULL,
    access_scope               TEXT,
    auth_time                  REAL,
    created_at                 REAL NOT NULL,
    expires_at                 REAL NOT NULL,
    refresh_generation         INTEGER NOT NULL DEFAULT 0,
    access_generation          INTEGER NOT NULL DEFAULT 0,
    access_expires_at          REAL NOT NULL,
    rotated_at                 REAL NOT NULL,
    last_used_at               REAL NOT NULL,
    last_ip                    TEXT,
    revoked_at                 REAL,
    revoked_reason             TEXT,
    has_refresh                BOOLEAN NOT NULL,
    revoked_access_generation  INTEGER,
    window_start               REAL NOT NULL DEFAULT 0,
    window_count               INTEGER NOT NULL DEFAULT 0,
    auth_level                 INTEGER NOT NULL DEFAULT 1
);
INSERT INTO grants_compact (
    grant_id, client_id, user_id, scope, access_scope, auth_time, created_at, expires_at,
    refresh_generation, access_generation, access_expires_at, rotated_at, last_used_at,
    last_ip, revoked_at, revoked_reason, has_refresh, revoked_access_generation,
    window_start, window_count, auth_level)
SELECT grant_id, client_id, user_id, scope, NULLIF(access_scope, scope), auth_time,
    created_at, expires_at, refresh_generation, access_generation, access_expires_at,
    rotated_at, last_used_at,
    CASE WHEN last_ip GLOB '*[^0-9A-Fa-f:.]*' THEN NULL
        WHEN last_ip LIKE '::ffff:%.%' THEN substr(last_ip, 8)
        ELSE last_ip END,
    revoked_at, revoked_reason, has_refresh, revoked_access_generation, window_start,
    window_count, auth_level
FROM grants;
DROP TABLE grants;
ALTER TABLE grants_compact RENAME TO grants;
CREATE INDEX grants_user ON grants (user_id, client_id);
CREATE INDEX grants_client ON grants (client_id);
CREATE INDEX grants_expiry ON grants (expires_at);
CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;
