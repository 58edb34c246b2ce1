-- Bytes a grant in keyturn's grants layout against a compact one, on a million rows.
--
--     createdb -h 127.0.0.1 -U postgres layout
--     psql -h 127.0.0.1 -U postgres layout -f bench/grant_layout.sql
--     dropdb -h 127.0.0.1 -U postgres layout
--
-- Standalone tables (no keyturn schema needed), ten grants a user as in
-- bench/growth.py. `today` is the grants table as migrations 0001-0009 left it;
-- `compact` is the layout migration 0010 rewrites it into: 8-byte columns first, then
-- 4-, 2- and 1-byte ones, then the variable-length ones, so no alignment padding is
-- wasted; a uuid key; the address as inet; the access scope NULL when it equals the
-- scope; no network columns (the network is a function of the address, and the
-- previous use is read by the refresh statement from the row it replaces).
-- Takes about two minutes.
\set ON_ERROR_STOP on
DROP TABLE IF EXISTS today, compact;
CREATE TABLE today (
    grant_id bytea PRIMARY KEY, client_id text NOT NULL, user_id text, scope text NOT NULL,
    access_scope text NOT NULL, auth_time float8, created_at float8 NOT NULL,
    expires_at float8 NOT NULL, refresh_generation bigint NOT NULL DEFAULT 0,
    access_generation bigint NOT NULL DEFAULT 0, access_expires_at float8 NOT NULL,
    rotated_at float8 NOT NULL, last_used_at float8 NOT NULL, last_ip text,
    revoked_at float8, revoked_reason text, has_refresh bool NOT NULL,
    revoked_access_generation bigint, network text, prev_network text, prev_used_at float8,
    window_start float8 NOT NULL DEFAULT 0, window_count int NOT NULL DEFAULT 0,
    auth_level int NOT NULL DEFAULT 1);
CREATE INDEX today_user ON today (user_id, client_id);
CREATE INDEX today_client ON today (client_id);
CREATE INDEX today_expiry ON today (expires_at);
CREATE INDEX today_revoked ON today (revoked_at) WHERE revoked_at IS NOT NULL;
-- Rows as they look after two refreshes: the previous network and use are set too.
INSERT INTO today (grant_id, client_id, user_id, scope, access_scope, auth_time, created_at,
    expires_at, refresh_generation, access_generation, access_expires_at, rotated_at,
    last_used_at, last_ip, has_refresh, network, prev_network, prev_used_at, window_start,
    window_count)
SELECT decode(md5('g' || i), 'hex'), 'c_AbCdEfGhIjKlMnOpQrSt', md5('u' || (i % 100000 + 1)),
    'offline_access', 'offline_access', t - 86400, t - 86400, t + 1e8, 7, 7, t + 3600,
    t - 60, t - 60, '203.0.113.' || (i % 250), TRUE, '203.0.113.0/24', '198.51.100.0/24',
    t - 3660, t - 60, 1
FROM generate_series(1, 1000000) AS i, (SELECT extract(epoch FROM now()) AS t) AS clock;

CREATE TABLE compact (
    created_at float8 NOT NULL, expires_at float8 NOT NULL, access_expires_at float8 NOT NULL,
    rotated_at float8 NOT NULL, last_used_at float8 NOT NULL,
    window_start float8 NOT NULL DEFAULT 0, auth_time float8, revoked_at float8,
    refresh_generation int NOT NULL DEFAULT 0, access_generation int NOT NULL DEFAULT 0,
    revoked_access_generation int, window_count int NOT NULL DEFAULT 0,
    auth_level smallint NOT NULL DEFAULT 1, has_refresh bool NOT NULL,
    grant_id uuid PRIMARY KEY, client_id text NOT NULL, user_id text, scope text NOT NULL,
    access_scope text, last_ip inet, revoked_reason text);
CREATE INDEX compact_user ON compact (user_id, client_id);
CREATE INDEX compact_client ON compact (client_id);
CREATE INDEX compact_expiry ON compact (expires_at);
CREATE INDEX compact_revoked ON compact (revoked_at) WHERE revoked_at IS NOT NULL;
INSERT INTO compact (grant_id, client_id, user_id, scope, access_scope, auth_time, created_at,
    expires_at, refresh_generation, access_generation, access_expires_at, rotated_at,
    last_used_at, last_ip, has_refresh, window_start, window_count)
SELECT encode(grant_id, 'hex')::uuid, client_id, user_id, scope, NULLIF(access_scope, scope),
    auth_time, created_at, expires_at, refresh_generation, access_generation,
    access_expires_at, rotated_at, last_used_at, last_ip::inet, has_refresh, window_start,
    window_count
FROM today;
VACUUM ANALYZE today;
VACUUM ANALYZE compact;

SELECT t AS layout,
    round(pg_relation_size(t) / 1e6, 1) AS table_bytes_a_grant,
    round(pg_indexes_size(t) / 1e6, 1) AS index_bytes_a_grant,
    round(pg_total_relation_size(t) / 1e6, 1) AS total_bytes_a_grant
FROM unnest(ARRAY['today', 'compact']::regclass[]) AS t;
SELECT 'today' AS layout, round(avg(pg_column_size(today.*)), 1) AS row_bytes FROM today
UNION ALL SELECT 'compact', round(avg(pg_column_size(compact.*)), 1) FROM compact;
SELECT indexrelid::regclass AS index, round(pg_relation_size(indexrelid) / 1e6, 1) AS bytes_a_grant
FROM pg_index WHERE indrelid IN ('today'::regclass, 'compact'::regclass) ORDER BY 1;
DROP TABLE today, compact;
