-- Anomaly signals on the refresh path, and their delivery to people and systems.
-- Expand only: new tables and nullable or defaulted columns.

-- What the refresh statement needs to notice a pattern in the same UPDATE: the
-- network of this refresh and of the one before (/24 for IPv4, /48 for IPv6), the
-- time of the refresh before, and how many refreshes fell in the current window
-- of one access-token lifetime.
ALTER TABLE grants ADD COLUMN network TEXT;
ALTER TABLE grants ADD COLUMN prev_network TEXT;
ALTER TABLE grants ADD COLUMN prev_used_at DOUBLE PRECISION;
ALTER TABLE grants ADD COLUMN window_start DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN window_count INTEGER NOT NULL DEFAULT 0;

-- Receivers of events: a URL, the kinds it wants (JSON array, [] = all) and its
-- signing secret, sealed under the master secret like the server keys.
CREATE TABLE webhooks (
    webhook_id      TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    kinds           TEXT NOT NULL DEFAULT '[]',
    sealed_secret   BYTEA NOT NULL,
    created_at      DOUBLE PRECISION NOT NULL,
    deleted_at      DOUBLE PRECISION
);

-- The outbox: one row per event and receiver (a webhook, or a person's email),
-- written by whichever instance fans the event out, claimed one attempt at a time.
CREATE TABLE deliveries (
    delivery_id     BIGSERIAL PRIMARY KEY,
    channel         TEXT NOT NULL,
    target          TEXT NOT NULL,
    event_id        BIGINT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_until     DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      DOUBLE PRECISION NOT NULL,
    finished_at     DOUBLE PRECISION
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_target ON deliveries (target, delivery_id);

-- How far events have been fanned out into deliveries (one row).
CREATE TABLE outbox_cursor (
    name        TEXT PRIMARY KEY,
    event_id    BIGINT NOT NULL
);
INSERT INTO outbox_cursor (name, event_id) SELECT 'events', COALESCE(MAX(event_id), 0) FROM events;
