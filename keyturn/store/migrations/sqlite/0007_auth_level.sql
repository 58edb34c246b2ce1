-- Two-step verification and the strength of every sign-in.
-- Expand only: defaulted or nullable columns and a new table.

-- 1: password (or a partner's registration code); 2: password and a second factor.
ALTER TABLE grants ADD COLUMN auth_level INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sessions ADD COLUMN auth_level INTEGER NOT NULL DEFAULT 1;
ALTER TABLE authorization_codes ADD COLUMN auth_level INTEGER NOT NULL DEFAULT 1;

-- The authenticator-app secret, sealed under the master secret; while it is being
-- set up it waits in totp_pending. totp_last_step is the last 30-second step whose
-- code was accepted, so no code is accepted twice.
ALTER TABLE users ADD COLUMN totp_sealed BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- Single-use recovery codes, stored as keyed hashes.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (user_id),
    code_hash   BLOB NOT NULL,
    used_at     REAL,
    PRIMARY KEY (user_id, code_hash)
);
