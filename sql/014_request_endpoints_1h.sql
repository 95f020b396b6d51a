-- request_stats_1m in hours, without the error columns: what Insights' "Most used endpoints" reads
-- for the whole hours of its range (every request dropdown has its column here, so it serves any
-- filter). Over the default 7 days request_stats_1m holds a row per minute and combination of
-- every dimension (~4M rows a day at the benchmark's 100M logs), all read on every refresh; an hour
-- here folds 60 minutes and the error codes and origins. The minutes at the range's two edges
-- still come from request_stats_1m. Fed from request_stats_1m (a view on a view's target, like
-- request_status_1h). After a crash its touched hours are rebuilt from request_stats_1m once that
-- is rebuilt (clickhouse/tables.ts).

CREATE TABLE IF NOT EXISTS {{db}}.request_endpoints_1h
(
    hour        DateTime('UTC'),
    institution LowCardinality(String),
    customer_id LowCardinality(String),
    endpoint    LowCardinality(String),
    method      LowCardinality(String),
    status_code UInt16,
    source      LowCardinality(String),
    requests    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, institution, customer_id, endpoint, method, status_code, source)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.request_endpoints_1h_mv TO {{db}}.request_endpoints_1h AS
SELECT
    toStartOfHour(minute) AS hour,
    institution, customer_id, endpoint, method, status_code, source,
    sum(requests) AS requests
FROM {{db}}.request_stats_1m
GROUP BY hour, institution, customer_id, endpoint, method, status_code, source;
