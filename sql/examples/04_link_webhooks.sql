-- Which webhooks were sent for this link, and did each reach the customer?
-- Story: the user got token_required, but the customer's app never heard of it. One row per
-- webhook with its attempts; delivered means some attempt got a 2xx.
-- Parameters: link_id.
SELECT
    webhook_id,
    any(event)                                            AS event,
    any(type)                                             AS type,
    min(timestamp)                                        AS first_attempt_at,
    max(timestamp)                                        AS last_attempt_at,
    count()                                               AS attempts,
    countIf(status_code BETWEEN 200 AND 299) > 0          AS delivered,
    argMax(tuple(status_code), (timestamp, attempt)).1 AS last_status_code,  -- NULL: no response (tuple: argMax skips bare NULLs)
    argMax(error, (timestamp, attempt))                   AS last_error,
    any(url)                                              AS url
FROM observability.webhook_attempts
WHERE link_id = {link_id:String}
GROUP BY webhook_id
ORDER BY last_attempt_at DESC;
