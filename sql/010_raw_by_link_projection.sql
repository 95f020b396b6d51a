-- A link's rows in the raw tables, found without reading an index that grows with the table.
-- The raw tables are sorted by hour first, so a link's calls and webhook attempts are spread over
-- the whole time range; the link_id bloom filters had to be read for every granule of that range
-- (their size grows with the table), and a link's page still read one granule per row found.
-- A projection that stores only each row's link_id, timestamp and _part_offset, sorted by
-- (link_id, timestamp), is an index of its own: a binary search finds the link's rows in each part
-- and only their granules are read (docs/performance.md, section 28). The bloom filters on link_id
-- it replaces are dropped: with both, the engine reads the bloom filter first and then judges the
-- few rows left too few for the projection. The projection is used when a query would otherwise
-- read at least min_table_rows_to_use_projection_index rows (1M by default); below that, scanning
-- link_id is cheap. MATERIALIZE builds it for parts written before this migration.

ALTER TABLE {{db}}.request_logs ADD PROJECTION IF NOT EXISTS by_link (SELECT _part_offset ORDER BY link_id, timestamp);
ALTER TABLE {{db}}.request_logs MATERIALIZE PROJECTION by_link;
ALTER TABLE {{db}}.request_logs DROP INDEX IF EXISTS idx_link_id;
ALTER TABLE {{db}}.webhook_attempts ADD PROJECTION IF NOT EXISTS by_link (SELECT _part_offset ORDER BY link_id, timestamp);
ALTER TABLE {{db}}.webhook_attempts MATERIALIZE PROJECTION by_link;
ALTER TABLE {{db}}.webhook_attempts DROP INDEX IF EXISTS idx_link_id;
