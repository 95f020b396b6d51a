-- Column codecs chosen by measurement (bench/codec-trial.ts; docs/performance.md, section 31): each
-- column's values in its table's sort order, written with each candidate codec, on the bench's
-- generated logs and on the demo's traffic (random hex ids, JSON bodies).
-- ZSTD(1) is the default of every raw table and rollup target: against the engine's default LZ4 it
-- halved random hex ids (request_id 32.1 -> 16.3 bytes per row), bodies, low-cardinality and time
-- columns, for little CPU; ZSTD(3) or (6) gained nothing on these columns and cost more to write.
-- The table's default also reaches its projections' columns (by_link), which cannot name codecs.
-- default_compression_codec needs ClickHouse 25.4 or later (the embedded engine and compose's 25.8).
-- Named below where another codec measured smaller: raw timestamps Delta (sorted within each hour,
-- institution and customer: 4.7 -> 1.7 bytes), rollup counters T64 (request_stats_1m.requests
-- 0.39 -> 0.13 bytes), bodies ZSTD(1) instead of ZSTD(3) (smaller here and half the write CPU).
-- Only parts written from now on (inserts, merges) use them; a codec-only change rewrites nothing.

ALTER TABLE {{db}}.request_logs MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.webhook_attempts MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.links MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.links_latest MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.request_stats_1m MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.request_status_1m MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.request_errors_1m MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.request_errors_5m MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.link_activity MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.link_activity_monthly MODIFY SETTING default_compression_codec = 'ZSTD(1)';
ALTER TABLE {{db}}.webhook_stats_1m MODIFY SETTING default_compression_codec = 'ZSTD(1)';

ALTER TABLE {{db}}.request_logs MODIFY COLUMN timestamp CODEC(Delta(8), ZSTD(1));
ALTER TABLE {{db}}.webhook_attempts MODIFY COLUMN timestamp CODEC(Delta(8), ZSTD(1));
ALTER TABLE {{db}}.request_logs MODIFY COLUMN response_body CODEC(ZSTD(1));
ALTER TABLE {{db}}.webhook_attempts MODIFY COLUMN payload CODEC(ZSTD(1));

ALTER TABLE {{db}}.request_stats_1m MODIFY COLUMN requests CODEC(T64, ZSTD(1));
ALTER TABLE {{db}}.request_stats_1m MODIFY COLUMN duration_ms_count CODEC(T64, ZSTD(1));
ALTER TABLE {{db}}.request_status_1m MODIFY COLUMN requests CODEC(T64, ZSTD(1));
ALTER TABLE {{db}}.request_errors_1m MODIFY COLUMN requests CODEC(T64, ZSTD(1));
ALTER TABLE {{db}}.request_errors_1m MODIFY COLUMN errors CODEC(T64, ZSTD(1));
ALTER TABLE {{db}}.link_activity MODIFY COLUMN requests CODEC(T64, ZSTD(1));
ALTER TABLE {{db}}.link_activity MODIFY COLUMN errors CODEC(T64, ZSTD(1));
