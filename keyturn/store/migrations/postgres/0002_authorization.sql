-- Authorization code flow, sign-in sessions, remembered consent.
-- Expand only: new tables and defaulted columns.

ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque';

-- Single-use, short-lived codes; only a hash of the code is stored.
CREATE TABLE authorization_codes (
    code_hash       BYTEA PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (client_id),
    user_id         TEXT NOT NULL REFERENCES users (user_id),
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    code_challenge  TEXT,
    nonce           TEXT,
    auth_time       DOUBLE PRECISION NOT NULL,
    expires_at      DOUBLE PRECISION NOT NULL,
    used_at         DOUBLE PRECISION,
    grant_id        BYTEA
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- Browser sessions; the cookie holds a random token, the table its hash.
CREATE TABLE sessions (
    session_hash    BYTEA PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (user_id),
    auth_time       DOUBLE PRECISION NOT NULL,
    expires_at      DOUBLE PRECISION NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users (user_id),
    client_id   TEXT NOT NULL REFERENCES clients (client_id),
    scope       TEXT NOT NULL,
    granted_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
