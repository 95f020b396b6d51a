-- How many links do we have, per institution and access mode, and how many are valid?
-- Story: "how many links, and with which bank, do we have?" (Insights), including links created
-- in the last 30 days.
-- The latest state per link first (argMax), then counted.
SELECT
    institution,
    access_mode,
    count()                                            AS links,
    countIf(status = 'valid')                          AS valid,
    countIf(status = 'token_required')                 AS token_required,
    countIf(status = 'invalid')                        AS invalid,
    countIf(status = 'unconfirmed')                    AS unconfirmed,
    countIf(created_at >= now64(3) - INTERVAL 30 DAY)  AS created_last_30_days
FROM
(
    SELECT
        link_id,
        argMax(institution, updated_at) AS institution,
        argMax(access_mode, updated_at) AS access_mode,
        argMax(status, updated_at)      AS status,
        min(created_at)                 AS created_at
    FROM observability.links_latest
    GROUP BY link_id
)
GROUP BY institution, access_mode
ORDER BY links DESC, institution, access_mode;
