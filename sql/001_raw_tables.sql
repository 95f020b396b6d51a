-- Raw tables: one row per record accepted by ingest. Column names are the ingest field names
-- (error.code/error.message flattened to error_code/error_message). Every MergeTree table keeps a
-- deduplication window so a retried insert (same insert_deduplication_token) is dropped.

CREATE TABLE IF NOT EXISTS {{db}}.request_logs
(
    request_id    String,
    timestamp     DateTime64(3, 'UTC'),
    method        LowCardinality(String),
    endpoint      LowCardinality(String),
    status_code   UInt16,
    duration_ms   Nullable(Float32),
    link_id       String,
    external_id   String,
    institution   LowCardinality(String),
    source        LowCardinality(String),
    customer_id   LowCardinality(String),
    error_code    LowCardinality(String),
    error_message String,
    error_origin  LowCardinality(String),
    -- JSON text of the error body; always '' for status < 400 (never stored for successes)
    response_body String CODEC(ZSTD(3)),
    batch_id      String,
    ingested_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_request_id  request_id  TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_link_id     link_id     TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_external_id external_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toStartOfHour(timestamp), institution, customer_id, timestamp)
TTL toDateTime(timestamp) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {{db}}.webhook_attempts
(
    webhook_id  String,
    event       LowCardinality(String),
    type        LowCardinality(String),
    link_id     String,
    attempt     UInt16,
    url         String,
    -- NULL when no response arrived (timeout, connection refused)
    status_code Nullable(UInt16),
    timestamp   DateTime64(3, 'UTC'),
    external_id String,
    error       String,
    duration_ms Nullable(Float32),
    payload     String CODEC(ZSTD(3)),
    customer_id LowCardinality(String),
    batch_id    String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_webhook_id  webhook_id  TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_link_id     link_id     TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_external_id external_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toStartOfHour(timestamp), event, customer_id, timestamp)
TTL toDateTime(timestamp) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Every link state ever posted: the history behind "status changes over time".
CREATE TABLE IF NOT EXISTS {{db}}.links
(
    link_id     String,
    status      LowCardinality(String),
    access_mode LowCardinality(String),
    institution LowCardinality(String),
    created_at  DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC'),
    external_id String,
    customer_id LowCardinality(String),
    batch_id    String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_external_id external_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(updated_at)
ORDER BY (link_id, updated_at)
TTL toDateTime(updated_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;
