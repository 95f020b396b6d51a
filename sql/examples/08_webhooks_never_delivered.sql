-- Which webhooks never got a 2xx from the customer's endpoint?
-- Story: the customer says "you never told us"; these are the events their URL never accepted,
-- with the last answer (NULL status: timeout or connection refused).
-- Parameters: days = how far back to look (e.g. 7).
SELECT
    webhook_id,
    any(customer_id)                            AS customer_id,
    any(event)                                  AS event,
    any(type)                                   AS type,
    any(link_id)                                AS link_id,
    count()                                     AS attempts,
    min(timestamp)                              AS first_attempt_at,
    max(timestamp)                              AS last_attempt_at,
    argMax(tuple(status_code), (timestamp, attempt)).1 AS last_status_code,  -- NULL: no response (tuple: argMax skips bare NULLs)
    argMax(error, (timestamp, attempt))         AS last_error,
    any(url)                                    AS url
FROM observability.webhook_attempts
WHERE timestamp >= now64(3) - toIntervalDay({days:UInt32})
GROUP BY webhook_id
HAVING countIf(status_code BETWEEN 200 AND 299) = 0
ORDER BY last_attempt_at DESC;
