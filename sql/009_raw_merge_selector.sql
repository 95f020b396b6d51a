-- Wider merges for the raw tables. Each flush of the worker adds one part per raw table (~1 s of
-- traffic), and the engine keeps merging those parts into bigger ones; for the wide raw rows that
-- rewriting is a third of the worker's engine time at a steady 43k records/s. A merge_selector_base
-- of 20 instead of the default 5 merges more parts at once, so each row is rewritten fewer times:
-- the worker's CPU per record fell 14% at 43k and 8% at 80k records/s (docs/performance.md,
-- section 27). The cost is more parts alive at a time (11 instead of 6 after 4.8M rows of 40k-row
-- inserts), which queries read side by side. Rollup targets keep the default: their parts are
-- small and cheap to merge. Only future merges change; existing parts are left as they are.

ALTER TABLE {{db}}.request_logs MODIFY SETTING merge_selector_base = 20;
ALTER TABLE {{db}}.webhook_attempts MODIFY SETTING merge_selector_base = 20;
ALTER TABLE {{db}}.links MODIFY SETTING merge_selector_base = 20;
