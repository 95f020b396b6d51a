-- When was this link last accessed, and how did its calls go? First and last call, calls and errors.
-- Story: a valid link whose last access is days old explains "my data is not refreshed".
-- Parameters: link_id.
-- link_activity keeps one row per link and day for 400 days (longer than the raw logs); the
-- aggregate functions merge the rows ClickHouse has not merged yet.
SELECT
    link_id,
    any(institution)                                     AS institution,
    any(external_id)                                     AS external_id,
    min(first_request_at)                                AS first_request_at,
    max(last_request_at)                                 AS last_request_at,
    dateDiff('minute', last_request_at, now64(3))        AS minutes_since_last_request,
    -- aliases differ from the columns: an alias named like a column would shadow it in sumIf
    sum(requests)                                        AS calls,
    sum(errors)                                          AS failed_calls,
    sumIf(requests, day >= today() - 6)                  AS calls_last_7_days,
    sumIf(errors, day >= today() - 6)                    AS failed_calls_last_7_days
FROM observability.link_activity
WHERE link_id = {link_id:String}
GROUP BY link_id;
