-- A request_id from a support ticket: what was that call, and what error body did it return?
-- Story: the customer sends a request_id from an error body; find the call and its link.
-- Parameters: request_id.
-- A bloom-filter index on request_id skips most granules; the time bound skips old partitions.
SELECT
    timestamp,
    request_id,
    link_id,
    external_id,
    institution,
    customer_id,
    method,
    endpoint,
    status_code,
    error_code,
    error_message,
    error_origin,
    response_body
FROM observability.request_logs
WHERE request_id = {request_id:String}
  AND timestamp >= now64(3) - INTERVAL 90 DAY;
