-- Rollups kept by materialized views TO explicit tables, so they outlive the raw TTL and are
-- deduplicated with their source block (deduplicate_blocks_in_dependent_materialized_views).

-- Latest state per link: the newest updated_at wins. Read with argMax / LIMIT 1 BY, or FINAL on small scans.
CREATE TABLE IF NOT EXISTS {{db}}.links_latest
(
    link_id     String,
    status      LowCardinality(String),
    access_mode LowCardinality(String),
    institution LowCardinality(String),
    created_at  DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC'),
    external_id String,
    customer_id LowCardinality(String),
    INDEX idx_external_id external_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY link_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.links_latest_mv TO {{db}}.links_latest AS
SELECT link_id, status, access_mode, institution, created_at, updated_at, external_id, customer_id
FROM {{db}}.links;

-- Requests per minute by every dimension Insights and alerting filter on.
CREATE TABLE IF NOT EXISTS {{db}}.request_stats_1m
(
    minute            DateTime('UTC'),
    institution       LowCardinality(String),
    customer_id       LowCardinality(String),
    endpoint          LowCardinality(String),
    method            LowCardinality(String),
    status_code       UInt16,
    error_code        LowCardinality(String),
    error_origin      LowCardinality(String),
    source            LowCardinality(String),
    requests          SimpleAggregateFunction(sum, UInt64),
    duration_ms_sum   SimpleAggregateFunction(sum, Float64),
    duration_ms_count SimpleAggregateFunction(sum, UInt64),
    -- p50/p95/p99 latency in ms: quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)
    duration_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, institution, customer_id, endpoint, method, status_code, error_code, error_origin, source)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.request_stats_1m_mv TO {{db}}.request_stats_1m AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    institution, customer_id, endpoint, method, status_code, error_code, error_origin, source,
    count() AS requests,
    sum(ifNull(duration_ms, 0)) AS duration_ms_sum,
    count(duration_ms) AS duration_ms_count,
    quantilesTDigestState(0.5, 0.95, 0.99)(assumeNotNull(duration_ms)) AS duration_ms_quantiles
FROM {{db}}.request_logs
GROUP BY minute, institution, customer_id, endpoint, method, status_code, error_code, error_origin, source;

-- Last access and request counts per link and day (the Links list reads this, not the raw logs).
-- Per link over all time: max(last_request_at), sum(requests) ... GROUP BY link_id.
CREATE TABLE IF NOT EXISTS {{db}}.link_activity
(
    day              Date,
    link_id          String,
    institution      SimpleAggregateFunction(anyLast, LowCardinality(String)),
    customer_id      SimpleAggregateFunction(anyLast, LowCardinality(String)),
    external_id      SimpleAggregateFunction(anyLast, String),
    first_request_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_request_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    requests         SimpleAggregateFunction(sum, UInt64),
    errors           SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (link_id, day)
TTL day + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.link_activity_mv TO {{db}}.link_activity AS
SELECT
    toDate(timestamp) AS day,
    link_id,
    anyLast(institution) AS institution,
    anyLast(customer_id) AS customer_id,
    anyLast(external_id) AS external_id,
    min(timestamp) AS first_request_at,
    max(timestamp) AS last_request_at,
    count() AS requests,
    countIf(status_code >= 400) AS errors
FROM {{db}}.request_logs
WHERE link_id != ''
GROUP BY day, link_id;

-- Webhook delivery attempts per minute by event, type and outcome.
CREATE TABLE IF NOT EXISTS {{db}}.webhook_stats_1m
(
    minute            DateTime('UTC'),
    customer_id       LowCardinality(String),
    event             LowCardinality(String),
    type              LowCardinality(String),
    -- delivered (2xx), failed (any other response), no_response (timeout, refused)
    outcome           LowCardinality(String),
    status_code       UInt16,
    attempts          SimpleAggregateFunction(sum, UInt64),
    first_attempts    SimpleAggregateFunction(sum, UInt64),
    duration_ms_sum   SimpleAggregateFunction(sum, Float64),
    duration_ms_count SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, customer_id, event, type, outcome, status_code)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.webhook_stats_1m_mv TO {{db}}.webhook_stats_1m AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    customer_id, event, type,
    multiIf(response IS NULL, 'no_response', response BETWEEN 200 AND 299, 'delivered', 'failed') AS outcome,
    ifNull(response, 0) AS status_code,
    count() AS attempts,
    countIf(attempt = 1) AS first_attempts,
    sum(ifNull(duration_ms, 0)) AS duration_ms_sum,
    count(duration_ms) AS duration_ms_count
-- the raw status is renamed first: an alias named status_code would shadow it in the outcome test
FROM (SELECT *, status_code AS response FROM {{db}}.webhook_attempts)
GROUP BY minute, customer_id, event, type, outcome, status_code;
