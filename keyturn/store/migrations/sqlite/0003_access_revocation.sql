-- RFC 7009 revocation of an access token records which access generation it
-- retired, so a refresh retried inside the grace window can rebuild the
-- response the refresh gave, revoked token and all (docs/design.md, "A refresh").
-- Expand only: a nullable column, NULL for rows no revocation has touched.

ALTER TABLE grants ADD COLUMN revoked_access_generation INTEGER;
