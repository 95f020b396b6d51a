-- How fast is each endpoint? p50, p95 and p99 latency per endpoint, all institutions together.
-- Story: which endpoints are slow for everyone (ours to fix) rather than at one bank.
-- Parameters: hours = window (e.g. 24).
-- Requests without a duration count in `requests` but not in the quantiles.
SELECT
    endpoint,
    sum(requests)                                                          AS requests,
    sum(duration_ms_count)                                                 AS timed_requests,
    round(quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)[1], 1) AS p50_ms,
    round(quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)[2], 1) AS p95_ms,
    round(quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)[3], 1) AS p99_ms
FROM observability.request_stats_1m
WHERE minute >= toStartOfMinute(now() - toIntervalHour({hours:UInt32}))
GROUP BY endpoint
ORDER BY p95_ms DESC, endpoint;
