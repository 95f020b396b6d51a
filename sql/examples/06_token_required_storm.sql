-- A 428 storm: which institutions and customers get token_required, how many links are hit, since when?
-- Story: suddenly many end users see 428; is it one bank, one customer, or everyone?
-- Parameters: hours = how far back to look (e.g. 24).
SELECT
    institution,
    customer_id,
    count()                 AS responses_428,
    uniqExact(link_id)      AS links_affected,
    min(timestamp)          AS first_seen,
    max(timestamp)          AS last_seen,
    any(request_id)         AS sample_request_id   -- quote it in a support ticket
FROM observability.request_logs
WHERE timestamp >= now64(3) - toIntervalHour({hours:UInt32})
  -- implied by the line above, but the engine narrows the table's hour-first sort key only from this
  AND toStartOfHour(timestamp) >= toStartOfHour(toTimeZone(now64(3) - toIntervalHour({hours:UInt32}), 'UTC'))
  AND status_code = 428
GROUP BY institution, customer_id
ORDER BY responses_428 DESC, institution, customer_id;
