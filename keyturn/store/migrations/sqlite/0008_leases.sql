-- Background work done once per deployment, not once per process: whoever holds a
-- lease (until expires_at) does the work; others find it held and skip their round.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
