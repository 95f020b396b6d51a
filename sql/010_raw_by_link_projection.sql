-- A link's rows in the raw tables, found without reading an index that grows with the table.
-- The raw tables are sorted by hour first, so a link's calls and webhook attempts are spread over
-- the whole time range, and the link_id bloom filters are read for every granule of that range.
-- This projection keeps each row's sort key, sorted by (link_id, timestamp): a link's rows in it
-- are a few adjacent granules. The Link detail panels read their link's sort keys from it, then
-- the raw rows through the primary key (`linkRowKeys` in dashboards/shared-sql.ts), so the work
-- follows the link's rows, not the table's size (docs/performance.md, section 28).
-- MATERIALIZE builds it for parts written before this migration.

ALTER TABLE {{db}}.request_logs ADD PROJECTION IF NOT EXISTS by_link (SELECT link_id, timestamp, institution, customer_id ORDER BY link_id, timestamp);
ALTER TABLE {{db}}.request_logs MATERIALIZE PROJECTION by_link;
ALTER TABLE {{db}}.webhook_attempts ADD PROJECTION IF NOT EXISTS by_link (SELECT link_id, timestamp, event, customer_id ORDER BY link_id, timestamp);
ALTER TABLE {{db}}.webhook_attempts MATERIALIZE PROJECTION by_link;
