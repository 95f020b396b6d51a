-- Valid links that nobody called for a while (or ever): whose data is not being refreshed?
-- Story: "my users noticed their data isn't refreshed": the link is fine, but no call reached it.
-- Parameters: hours = how long without a call counts as stale (e.g. 48).
SELECT
    l.link_id,
    l.institution,
    l.access_mode,
    l.external_id,
    l.customer_id,
    a.last_request_at,                        -- NULL: never called
    dateDiff('hour', a.last_request_at, now64(3)) AS hours_since_last_request
FROM
(
    SELECT
        link_id,
        argMax(status, updated_at)      AS status,
        argMax(institution, updated_at) AS institution,
        argMax(access_mode, updated_at) AS access_mode,
        argMax(external_id, updated_at) AS external_id,
        argMax(customer_id, updated_at) AS customer_id
    FROM observability.links_latest
    GROUP BY link_id
) AS l
LEFT JOIN
(
    SELECT link_id, max(last_request_at) AS last_request_at
    FROM observability.link_activity
    GROUP BY link_id
) AS a ON a.link_id = l.link_id
WHERE l.status = 'valid'
  AND (a.last_request_at IS NULL OR a.last_request_at < now64(3) - toIntervalHour({hours:UInt32}))
ORDER BY a.last_request_at ASC NULLS FIRST, l.link_id
SETTINGS join_use_nulls = 1;
