-- Requests and errors (4xx/5xx) per minute by institution and customer: the error rate per
-- institution without the response's columns. request_status_1m keeps a row per response seen
-- (status, error code, origin) in each minute, institution and customer, ~8x the rows of this one
-- on the benchmark's data, and the Insights panel that charts the rate over 7 days read all of them.
-- Kept like the rollups of 002 and 005: a materialized view TO an explicit target, deduplicated
-- with its source block (deduplicate_blocks_in_dependent_materialized_views).

-- Requests and errors per minute by institution and customer.
CREATE TABLE IF NOT EXISTS {{db}}.request_errors_1m
(
    minute       DateTime('UTC'),
    institution  LowCardinality(String),
    customer_id  LowCardinality(String),
    requests     SimpleAggregateFunction(sum, UInt64),
    errors       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, institution, customer_id)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.request_errors_1m_mv TO {{db}}.request_errors_1m AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    institution, customer_id,
    count() AS requests,
    countIf(status_code >= 400) AS errors
FROM {{db}}.request_logs
GROUP BY minute, institution, customer_id;
