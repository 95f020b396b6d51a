-- link_activity_lookup (sql/016) merged whole: Insights' Active links counts distinct links over
-- every row of the range's months, so each unmerged part adds up to a row per link (at the
-- benchmark's 100M logs the table held 6.5M rows in 9 parts for 2M links x months, and the count,
-- a hash set of them, was the slowest Insights panel: docs/performance.md, section 40). The merge
-- selector leaves such parts alone (it merges parts of similar size); with this setting any range of
-- parts all older than 120 s is merged, so a partition is one part plus the last two minutes' writes.
-- Cost: the current month's part rewritten once per 120 s while writes arrive, 0.35 s of CPU and
-- 23 MB at 1M links (measured on the benchmark's 100M shape, bench/links-shape.ts).
ALTER TABLE {{db}}.link_activity_lookup MODIFY SETTING min_age_to_force_merge_seconds = 120;
