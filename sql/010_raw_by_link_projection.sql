-- A link's rows in the raw tables, stored together. The raw tables are sorted by hour first, so a
-- link's calls and webhook attempts are spread over the whole time range: one granule read per
-- row found, and the link_id bloom filter read for every granule of the range. This projection
-- keeps the columns the Link detail panels show, sorted by (link_id, timestamp): a link's rows are
-- a few adjacent granules of it, whatever the table's size. The engine picks it by itself for a
-- query that filters link_id and reads only these columns (docs/performance.md, section 28).
-- The cost is a second, narrower copy of these columns at insert and on disk.
-- MATERIALIZE builds it for parts written before this migration.

ALTER TABLE {{db}}.request_logs ADD PROJECTION IF NOT EXISTS by_link (SELECT link_id, timestamp, status_code, method, endpoint, request_id, source, error_code, error_message, error_origin, response_body ORDER BY link_id, timestamp);
ALTER TABLE {{db}}.request_logs MATERIALIZE PROJECTION by_link;
ALTER TABLE {{db}}.webhook_attempts ADD PROJECTION IF NOT EXISTS by_link (SELECT link_id, timestamp, webhook_id, type, event, attempt, status_code, url, error ORDER BY link_id, timestamp);
ALTER TABLE {{db}}.webhook_attempts MATERIALIZE PROJECTION by_link;
