-- Records ClickHouse refused even alone (poison). Kept as JSON text so nothing can refuse them
-- here; `npm run dead-letters -- list|replay`. A replay writes a newer version with replayed_at.
CREATE TABLE IF NOT EXISTS {{db}}.dead_letters
(
    -- deterministic (job id + position), so a retried dead-lettering does not duplicate
    id          String,
    kind        LowCardinality(String),
    table_name  LowCardinality(String),
    batch_id    String,
    row         String CODEC(ZSTD(3)),
    error       String,
    failed_at   DateTime64(3, 'UTC'),
    replayed_at Nullable(DateTime64(3, 'UTC')),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id
SETTINGS non_replicated_deduplication_window = 10000;
