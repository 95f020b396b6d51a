-- Each link's states, also sorted by creation time. links_latest is sorted by link_id, so the Links
-- table (the newest 1000 links) read every link's states and grouped them all. This projection keeps the same rows ordered by created_at: the engine picks
-- it by itself for `ORDER BY created_at DESC LIMIT n` (read in order) and for a created_at range
-- (docs/performance.md, section 30). A link's created_at is the same in all its states, so reading
-- a created_at range reads every state of the links in it and their newest state stays exact.
-- ReplacingMergeTree refuses projections unless told what a merge does to them: 'rebuild' builds
-- the merged part's projection again from the deduplicated rows.
-- MATERIALIZE builds it for parts written before this migration.

ALTER TABLE {{db}}.links_latest MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {{db}}.links_latest ADD PROJECTION IF NOT EXISTS by_created (SELECT * ORDER BY created_at);
ALTER TABLE {{db}}.links_latest MATERIALIZE PROJECTION by_created;
