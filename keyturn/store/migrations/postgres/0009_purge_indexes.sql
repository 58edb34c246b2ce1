-- The purge walks finished deliveries in order of their finish time.
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;

-- Vacuum the grants table after 2% of its rows changed rather than the default 20%:
-- on a table of ten million grants a purge of a million expired ones would otherwise
-- leave their dead rows and index entries in place until another million rows had
-- changed, and refreshes and new grants would step over them meanwhile.
ALTER TABLE grants SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
