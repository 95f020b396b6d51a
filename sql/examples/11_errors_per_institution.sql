-- Which institutions return errors, what share of calls fail, and whose fault is it (ours or the institution's)?
-- Story: many errors; which institution returns them, and are they internal or external?
-- Parameters: hours = window (e.g. 24).
-- error_origin: 'internal' (our side), 'institution' (the bank's side), '' (not reported).
SELECT
    institution,
    -- `calls`, not `requests`: an alias named like the column would shadow it in sumIf below
    sum(requests)                                                        AS calls,
    sumIf(requests, status_code >= 400)                                  AS errors,
    round(errors / calls, 3)                                             AS error_ratio,
    sumIf(requests, status_code >= 400 AND error_origin = 'internal')    AS internal_errors,
    sumIf(requests, status_code >= 400 AND error_origin = 'institution') AS institution_errors
FROM observability.request_status_1m
WHERE minute >= toStartOfMinute(now() - toIntervalHour({hours:UInt32}))
  AND institution != ''
GROUP BY institution
ORDER BY errors DESC, institution;
