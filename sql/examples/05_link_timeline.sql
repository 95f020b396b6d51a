-- What happened to this link, in order? Its API calls, webhook attempts and status changes in one timeline.
-- Story: the whole picture of one user's connection on one screen, newest first.
-- Parameters: link_id.
SELECT at, kind, what, detail
FROM
(
    SELECT timestamp AS at, 'api call' AS kind,
           concat(method, ' ', endpoint, ' -> ', toString(status_code)) AS what,
           if(error_code = '', '', concat(error_code, ': ', error_message)) AS detail
    FROM observability.request_logs
    WHERE link_id = {link_id:String}
    UNION ALL
    SELECT timestamp, 'webhook attempt',
           concat(event, ' #', toString(attempt), ' -> ', ifNull(toString(status_code), 'no response')),
           error
    FROM observability.webhook_attempts
    WHERE link_id = {link_id:String}
    UNION ALL
    -- the raw links table keeps every state ever posted (links_latest keeps only the last)
    SELECT updated_at, 'status change', concat('status ', status), concat(institution, ', ', access_mode)
    FROM observability.links
    WHERE link_id = {link_id:String}
)
ORDER BY at DESC, kind
LIMIT 200;
