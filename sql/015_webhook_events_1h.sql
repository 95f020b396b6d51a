-- First attempts (events sent) per hour by customer, event and type: where Events' "Webhook events"
-- table counts back to its 1000th newest event (dashboards/events.ts). webhook_stats_1m holds up to
-- customers x events x outcomes rows a minute (~170k over 24 hours at the benchmark's 100M logs),
-- and the count read them all on every refresh; this table keeps the whole hours (a row per hour and
-- event kind), and the range's newest, partial hour is still counted from webhook_stats_1m's minutes.
-- Fed from webhook_stats_1m (a view on a view's target, like request_status_1h), so it costs the
-- insert one more small block. A database migrated before it has no hours before the migration:
-- the count only falls short there, and the cutoff only gets older (it reads more, never less).
-- After a crash its touched hours are rebuilt from webhook_stats_1m (clickhouse/tables.ts).

CREATE TABLE IF NOT EXISTS {{db}}.webhook_events_1h
(
    hour           DateTime('UTC'),
    customer_id    LowCardinality(String),
    event          LowCardinality(String),
    type           LowCardinality(String),
    first_attempts SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, customer_id, event, type)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.webhook_events_1h_mv TO {{db}}.webhook_events_1h AS
SELECT
    toStartOfHour(minute) AS hour,
    customer_id, event, type,
    sum(first_attempts) AS first_attempts
FROM {{db}}.webhook_stats_1m
GROUP BY hour, customer_id, event, type;
