-- Managing keyturn over HTTP: admin clients, client and user lifecycles.
-- Expand only: defaulted columns.

-- A client that may ask for the keyturn:admin:* scopes (the admin API).
ALTER TABLE clients ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
-- Browser origins allowed to call the token endpoints (JSON array of strings).
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
-- Authorization requests need a second factor.
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
-- A deleted client is kept (events and grants name it) but found by nothing.
ALTER TABLE clients ADD COLUMN deleted_at REAL;

-- A disabled user cannot sign in and has no working grants.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
-- A deleted user's row keeps only its id (events name it); email and password are gone.
ALTER TABLE users ADD COLUMN deleted_at REAL;
