-- link_activity_lookup (sql/016) in LZ4, the engine's default, where 016 named ZSTD(1) like the other
-- rollups. The Links table reads whole 1,024-row granules for its 1,000 newest links (about 70% of
-- the table at the benchmark's 100M logs), and decompressing ZSTD was most of its cost: on that
-- shape the same rows merged whole took 187 ms of engine CPU in ZSTD(1) against 105 in LZ4 (12
-- interleaved runs, same answer), Active links 127 against 123. The price is disk: 28 against 46 MB
-- for 2M link-months, about 0.17 bytes more per request log (docs/performance.md, section 41).
-- Metadata only: new parts and merges write LZ4; the current month is rewritten by 017's forced
-- merge within minutes, older months keep ZSTD until they expire (docs/schema.md says how to
-- rewrite them at once).
ALTER TABLE {{db}}.link_activity_lookup MODIFY SETTING default_compression_codec = 'LZ4';
