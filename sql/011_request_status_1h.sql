-- request_status_1m in hours: what Insights' totals (requests, most common errors, errors per
-- institution, their origin) read for the whole hours of their range. Over the default 7 days the
-- 1-minute table holds up to institutions x customers x responses rows a minute (~4M rows at the
-- benchmark's 100M logs), and each of those panels read them all on every refresh; this one keeps
-- a sixtieth of that, and the minutes at the range's two edges still come from request_status_1m.
-- Fed from request_status_1m (a view on a view's target, like request_errors_5m), so it costs the
-- insert one more small block. After a crash its touched hours are rebuilt from request_status_1m
-- once that is rebuilt (clickhouse/tables.ts).

-- Requests per hour by institution, customer and response.
CREATE TABLE IF NOT EXISTS {{db}}.request_status_1h
(
    hour         DateTime('UTC'),
    institution  LowCardinality(String),
    customer_id  LowCardinality(String),
    status_code  UInt16,
    error_code   LowCardinality(String),
    error_origin LowCardinality(String),
    requests     SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, institution, customer_id, status_code, error_code, error_origin)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.request_status_1h_mv TO {{db}}.request_status_1h AS
SELECT
    toStartOfHour(minute) AS hour,
    institution, customer_id, status_code, error_code, error_origin,
    sum(requests) AS requests
FROM {{db}}.request_status_1m
GROUP BY hour, institution, customer_id, status_code, error_code, error_origin;
