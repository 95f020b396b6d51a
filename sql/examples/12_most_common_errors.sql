-- What are the most common errors? Status and error code, how many responses, at which institutions, whose fault.
-- Story: Insights' "most common errors" (428 token_required, 500 ...).
-- Parameters: hours = window (e.g. 24).
SELECT
    status_code,
    error_code,
    sum(requests)                          AS responses,
    groupUniqArray(institution)            AS institutions,
    groupUniqArray(error_origin)           AS origins
FROM observability.request_status_1m
WHERE minute >= toStartOfMinute(now() - toIntervalHour({hours:UInt32}))
  AND status_code >= 400
GROUP BY status_code, error_code
ORDER BY responses DESC, status_code, error_code
LIMIT 20;
