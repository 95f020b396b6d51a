-- What did this link's last API calls return? Newest first, with the error body of each failure.
-- Story: the end user gets an error; the body (code, message, request_id) says why. Successful
-- bodies are never stored, so response_body is '' for status < 400.
-- Parameters: link_id; change LIMIT for more.
SELECT
    timestamp,
    request_id,
    method,
    endpoint,
    status_code,
    error_code,
    error_message,
    error_origin,
    duration_ms,
    source,
    response_body
FROM observability.request_logs
WHERE link_id = {link_id:String}
  AND timestamp >= now64(3) - INTERVAL 30 DAY   -- lets ClickHouse skip old partitions
ORDER BY timestamp DESC
LIMIT 20;
