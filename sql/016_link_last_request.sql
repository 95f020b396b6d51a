-- Each link's newest request, one row per link once merged: what Insights' Active links counts
-- (links whose newest request is in the range), read FINAL. link_activity_monthly holds a row per
-- link and month, so counting links there groups a million String keys at the benchmark's 100M
-- logs; FINAL here scans one row per link and merges only the key ranges where parts overlap
-- (docs/performance.md, section 36). Fed from link_activity like link_activity_monthly (a few rows
-- per block). A link's row goes when the month of its newest request is 400 days old, as that
-- month's row goes from link_activity_monthly. After a crash its touched links are replayed from
-- link_activity once that is rebuilt (a max needs no delete: clickhouse/tables.ts).
-- No backfill (a migration has no cluster-wide INSERT): a database with activity from before this
-- migration fills it once with the INSERT in docs/schema.md (link_last_request).

CREATE TABLE IF NOT EXISTS {{db}}.link_last_request
(
    link_id         String,
    institution     SimpleAggregateFunction(anyLast, LowCardinality(String)),
    customer_id     SimpleAggregateFunction(anyLast, LowCardinality(String)),
    last_request_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY link_id
TTL toLastDayOfMonth(toDate(last_request_at)) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.link_last_request_mv TO {{db}}.link_last_request AS
SELECT
    link_id,
    anyLast(institution) AS institution,
    anyLast(customer_id) AS customer_id,
    max(last_request_at) AS last_request_at
FROM {{db}}.link_activity
GROUP BY link_id;
