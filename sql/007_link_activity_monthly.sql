-- Last access and request counts per link and month: what the Links list, a link's header and
-- Insights' active links read. Those panels need each link's totals over all its kept activity;
-- link_activity keeps a row per link and day (up to 30x the rows of this table; at the
-- benchmark's 10M logs the Links page aggregated its 3.1M rows on every load).
-- Fed from link_activity, not from the raw logs: its view fires on the rows link_activity_mv
-- writes (a few per link and block, already summed), so it costs the insert little. After a crash
-- the touched months are rebuilt from link_activity once that is rebuilt (clickhouse/tables.ts).
-- A month is dropped when its last day is 400 days old: it keeps at least what link_activity keeps.

CREATE TABLE IF NOT EXISTS {{db}}.link_activity_monthly
(
    month            Date,
    link_id          String,
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
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.link_activity_monthly_mv TO {{db}}.link_activity_monthly AS
SELECT
    toStartOfMonth(day) AS month,
    link_id,
    anyLast(institution) AS institution,
    anyLast(customer_id) AS customer_id,
    max(last_request_at) AS last_request_at,
    sum(requests) AS requests,
    sum(errors) AS errors
FROM {{db}}.link_activity
GROUP BY month, link_id;
