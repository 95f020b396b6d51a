-- Every state change of an alert instance, written by the built-in evaluator (alerting/):
-- pending, firing, resolved, and normal (a pending alert that cleared before firing). Insights'
-- alert history reads it. Replacing on the full key, so a re-run evaluation cannot duplicate a row.
CREATE TABLE IF NOT EXISTS {{db}}.alerts
(
    rule_uid           LowCardinality(String),
    institution        LowCardinality(String),
    -- '' unless the rule alerts per institution and customer
    customer_id        LowCardinality(String),
    state              LowCardinality(String),
    previous_state     LowCardinality(String),
    -- evaluation time of the change
    at                 DateTime64(3, 'UTC'),
    -- when the condition started to hold in this episode
    active_since       DateTime64(3, 'UTC'),
    window_start       DateTime64(3, 'UTC'),
    window_end         DateTime64(3, 'UTC'),
    requests           UInt64,
    errors             UInt64,
    error_ratio        Float64,
    baseline_ratio     Float64,
    threshold          Float64,
    sample_request_ids Array(String),
    written_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (rule_uid, institution, customer_id, at, state)
TTL toDateTime(at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
