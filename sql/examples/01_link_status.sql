-- Is this user's link valid? Latest state of a link, found by link_id or by your external_id.
-- Story: "my user can't see their data" starts here. token_required means the user must enter
-- the bank's MFA token again; invalid means the credentials must be updated; only a valid link
-- can return fresh data.
-- Parameters: lookup = a link_id, or the external_id you gave the user (one user, many links).
-- links_latest may still hold older states until ClickHouse merges it: keep the newest row per
-- link with ORDER BY ... LIMIT 1 BY (also correct across cluster shards), never trust stored rows.
SELECT
    link_id,
    external_id,
    institution,
    access_mode,
    status,
    updated_at AS status_since,
    created_at,
    multiIf(
        status = 'valid',          'ok: check when it was last accessed (02_link_last_access)',
        status = 'token_required', 'the user must enter the MFA token the institution asks for',
        status = 'invalid',        'the credentials no longer work: the user must update them',
        status = 'unconfirmed',    'the link was never confirmed: the user must finish connecting',
        'unknown status') AS what_to_do
FROM observability.links_latest
WHERE link_id = {lookup:String} OR external_id = {lookup:String}
ORDER BY updated_at DESC
LIMIT 1 BY link_id;
