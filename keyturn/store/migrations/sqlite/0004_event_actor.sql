-- Who made a change: `cli`, `client:<client_id>`, `user:<user_id>`, or NULL for the
-- server itself (reuse detection, expiry). Expand only: a nullable column.

ALTER TABLE events ADD COLUMN actor TEXT;
