-- link_activity_monthly's rows again, in 1,024-row granules: what the Links table reads for its
-- 1,000 newest links (dashboards/shared-sql.ts linkLastAccess). Those links' ids are scattered
-- over the key, so in 8,192-row granules each unmerged part had one of them in nearly every granule
-- and the lookup read the whole table (4.7M rows at the benchmark's 100M logs) on every refresh;
-- here it reads a 1,024-row granule per link, month and part. Finer granules read fewer rows but
-- cost more CPU per range (256 and 64 measured). index_granularity cannot be altered on a table, and
-- a projection with finer granules is never picked (the engine compares marks, not rows:
-- docs/performance.md, section 36), hence a table.
-- ZSTD(1) like the other rollups (sql/012): at 10M logs it held the same rows in 2.27 bytes per log
-- with the engine's default LZ4 against link_activity_monthly's 0.67.
-- Fed from link_activity like link_activity_monthly, with the same months and TTL; after a crash
-- its touched months are rebuilt from link_activity (clickhouse/tables.ts). A database migrated
-- before it gets its history with the statement in docs/schema.md (`link_activity_lookup`), run once:
-- a migration's INSERT is not rendered for a cluster.

CREATE TABLE IF NOT EXISTS {{db}}.link_activity_lookup
(
    month            Date,
    link_id          String,
    -- the id's 64-bit hash, stored: Insights' Active links counts distinct links over it without
    -- reading and hashing every id (cityHash64(link_id), the same hash that panel counted before)
    link_hash        SimpleAggregateFunction(any, UInt64),
    institution      SimpleAggregateFunction(anyLast, LowCardinality(String)),
    customer_id      SimpleAggregateFunction(anyLast, LowCardinality(String)),
    last_request_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    requests         SimpleAggregateFunction(sum, UInt64),
    errors           SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (link_id, month)
TTL toLastDayOfMonth(month) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024, default_compression_codec = 'ZSTD(1)';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.link_activity_lookup_mv TO {{db}}.link_activity_lookup AS
SELECT
    toStartOfMonth(day) AS month,
    link_id,
    any(cityHash64(link_id)) AS link_hash,
    anyLast(institution) AS institution,
    anyLast(customer_id) AS customer_id,
    max(last_request_at) AS last_request_at,
    sum(requests) AS requests,
    sum(errors) AS errors
FROM {{db}}.link_activity
GROUP BY month, link_id;
