-- Which endpoints are slowest at each institution? The three with the highest p95, per institution.
-- Story: "transactions is slow" is usually one bank; this says which.
-- Parameters: hours = window (e.g. 24).
-- From the per-minute rollup: quantile states merge exactly across minutes and shards; latency in ms.
SELECT
    institution,
    endpoint,
    sum(requests)                                                        AS requests,
    round(quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)[2], 1) AS p95_ms,
    round(quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)[1], 1) AS p50_ms,
    round(sum(duration_ms_sum) / nullIf(sum(duration_ms_count), 0), 1)   AS avg_ms
FROM observability.request_stats_1m
WHERE minute >= toStartOfMinute(now() - toIntervalHour({hours:UInt32}))
  AND institution != ''
GROUP BY institution, endpoint
ORDER BY institution, p95_ms DESC, endpoint
LIMIT 3 BY institution;
