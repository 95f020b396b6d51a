-- request_errors_1m in 5-minute buckets: what Insights' error rate per institution reads when
-- Grafana's interval is a whole number of 5 minutes (a 7-day range gives 5 or 10 minutes). Its
-- rows scale with buckets x institutions x customers, not with traffic: over 7 days the 1-minute
-- table kept ~1.8M rows on the benchmark's data, and the panel read them all on every refresh.
-- Fed from request_errors_1m (a view on a view's target, like link_activity_monthly), so it costs
-- the insert one more small block. After a crash its touched buckets are rebuilt from
-- request_errors_1m once that is rebuilt (clickhouse/tables.ts).

-- Requests and errors per 5 minutes by institution and customer.
CREATE TABLE IF NOT EXISTS {{db}}.request_errors_5m
(
    bucket       DateTime('UTC'),
    institution  LowCardinality(String),
    customer_id  LowCardinality(String),
    requests     SimpleAggregateFunction(sum, UInt64),
    errors       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, institution, customer_id)
TTL bucket + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.request_errors_5m_mv TO {{db}}.request_errors_5m AS
SELECT
    toStartOfFiveMinutes(minute) AS bucket,
    institution, customer_id,
    sum(requests) AS requests,
    sum(errors) AS errors
FROM {{db}}.request_errors_1m
GROUP BY bucket, institution, customer_id;
