-- keyturn schema v1. Expand/contract: later migrations only add columns and
-- tables with defaults, so an older keyturn keeps working during an upgrade;
-- anything removed is dropped one release after the code stops reading it.

CREATE TABLE clients (
    client_id       TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    secret_hash     BYTEA,
    redirect_uris   TEXT NOT NULL DEFAULT '[]',
    scope           TEXT NOT NULL DEFAULT '',
    grant_types     TEXT NOT NULL DEFAULT '[]',
    access_ttl      INTEGER NOT NULL,
    refresh_ttl     BIGINT NOT NULL,
    rotation        BOOLEAN NOT NULL DEFAULT TRUE,
    grace_seconds   INTEGER NOT NULL DEFAULT 30,
    idle_ttl        INTEGER,
    always_refresh  BOOLEAN NOT NULL DEFAULT FALSE,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    rate_limit      INTEGER,
    created_at      DOUBLE PRECISION NOT NULL
);

CREATE TABLE users (
    user_id                 TEXT PRIMARY KEY,
    email                   TEXT NOT NULL UNIQUE,
    password_hash           TEXT,
    owner_client_id         TEXT REFERENCES clients (client_id),
    registration_code_hash  TEXT,
    claimed_at              DOUBLE PRECISION,
    enhanced_security       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at              DOUBLE PRECISION NOT NULL
);

-- One row per authorisation; refreshes update it in place (docs/design.md).
CREATE TABLE grants (
    grant_id            BYTEA PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients (client_id),
    user_id             TEXT REFERENCES users (user_id),
    scope               TEXT NOT NULL,
    access_scope        TEXT NOT NULL,
    auth_time           DOUBLE PRECISION,
    created_at          DOUBLE PRECISION NOT NULL,
    expires_at          DOUBLE PRECISION NOT NULL,
    refresh_generation  BIGINT NOT NULL DEFAULT 0,
    access_generation   BIGINT NOT NULL DEFAULT 0,
    access_expires_at   DOUBLE PRECISION NOT NULL,
    rotated_at          DOUBLE PRECISION NOT NULL,
    last_used_at        DOUBLE PRECISION NOT NULL,
    last_ip             TEXT,
    revoked_at          DOUBLE PRECISION,
    revoked_reason      TEXT,
    has_refresh         BOOLEAN NOT NULL
);
CREATE INDEX grants_user ON grants (user_id, client_id);
CREATE INDEX grants_client ON grants (client_id);
CREATE INDEX grants_expiry ON grants (expires_at);
CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE events (
    event_id    BIGSERIAL PRIMARY KEY,
    at          DOUBLE PRECISION NOT NULL,
    kind        TEXT NOT NULL,
    client_id   TEXT,
    user_id     TEXT,
    grant_id    BYTEA,
    ip          TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_at ON events (at);

CREATE TABLE keys (
    kid         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    retired_at  DOUBLE PRECISION
);
