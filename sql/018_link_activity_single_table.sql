-- link_activity_lookup becomes the one table of per-link monthly activity. link_activity_monthly
-- (sql/007) held the same rows in 8,192-row granules, fed by a second view on every insert that no
-- panel reads since sql/016; it becomes a plain view over the lookup with its old columns, so
-- ad-hoc SQL on it answers the same.
--
-- No history lost or counted twice: a database migrated before 016 whose lookup never got the
-- backfill in docs/schema.md holds months and calls in link_activity_monthly only. The INSERT
-- below adds to the lookup, per link and month still kept, what link_activity_monthly holds beyond
-- it (link_activity_monthly always holds at least the lookup's rows: both views fire on every
-- insert since 016, crash repair rebuilds both, the lookup's backfill copies from it). Where the
-- backfill ran it adds nothing, and run twice it adds nothing the second time. It is exact only
-- while no insert runs, so clickhouse/migrate.ts runs a migration's INSERT only when its process
-- alone writes the database (the embedded engine, migrated before the worker consumes); anywhere
-- else (server mode, a cluster) it refuses while the INSERT would add rows, naming it to run once
-- with the workers stopped. Its SETTINGS clear a deduplication token too: the embedded connection
-- keeps an earlier insert's settings on its session, and a token left there drops the copy's blocks
-- as repeats even with insert_deduplicate = 0.

INSERT INTO {{db}}.link_activity_lookup (month, link_id, link_hash, institution, customer_id, last_request_at, requests, errors)
SELECT m.month, m.link_id, cityHash64(m.link_id), m.institution, m.customer_id, m.last_at,
       greatest(m.calls, l.calls) - l.calls, greatest(m.errs, l.errs) - l.errs
FROM (
    SELECT month, link_id, anyLast(institution) AS institution, anyLast(customer_id) AS customer_id,
           max(last_request_at) AS last_at, sum(requests) AS calls, sum(errors) AS errs
    FROM {{db}}.link_activity_monthly
    WHERE toLastDayOfMonth(month) + INTERVAL 400 DAY > today()
    GROUP BY month, link_id
) AS m
LEFT JOIN (
    SELECT month, link_id, max(last_request_at) AS last_at, sum(requests) AS calls, sum(errors) AS errs
    FROM {{db}}.link_activity_lookup
    GROUP BY month, link_id
) AS l USING (month, link_id)
WHERE m.calls > l.calls OR m.errs > l.errs OR m.last_at > l.last_at
SETTINGS insert_deduplicate = 0, insert_deduplication_token = '', join_use_nulls = 0;

-- Stop feeding it first: its target becomes a view, which cannot take the view's rows.
DROP VIEW IF EXISTS {{db}}.link_activity_monthly_mv;

-- Replaces the table in one step (the name never stops answering; a migration interrupted here
-- runs again from the top), and the table with its parts is dropped.
CREATE OR REPLACE VIEW {{db}}.link_activity_monthly AS
SELECT month, link_id, institution, customer_id, last_request_at, requests, errors
FROM {{db}}.link_activity_lookup;
