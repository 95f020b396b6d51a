import { allOf } from './sql-filters.js';

/**
 * SQL fragments more than one dashboard reads, so "a link's current state" and "an error body"
 * mean one thing everywhere.
 */

/**
 * Each link's newest state. links_latest is a ReplacingMergeTree whose parts may not be merged
 * yet, so the newest row is picked with argMax rather than trusting one row per link.
 */
export function currentLinks(...where: string[]): string {
  // Filters go in an inner query: the aggregates below reuse the column names as aliases, and
  // ClickHouse would otherwise read WHERE external_id = ... as a filter on the aggregate.
  return `
    SELECT
      link_id,
      argMax(status, updated_at) AS status,
      argMax(access_mode, updated_at) AS access_mode,
      argMax(institution, updated_at) AS institution,
      argMax(external_id, updated_at) AS external_id,
      argMax(customer_id, updated_at) AS customer_id,
      min(created_at) AS created_at
    FROM (
      SELECT link_id, status, access_mode, institution, external_id, customer_id, created_at, updated_at
      FROM links_latest${where.length ? `\n      WHERE ${allOf(...where).replaceAll('\n', '\n  ')}` : ''}
    )
    GROUP BY link_id`;
}

/** Last access and request totals per link, merged over its months and unmerged rollup parts. */
export function linkLastAccess(...where: string[]): string {
  return `
    SELECT link_id, max(last_request_at) AS last_accessed_at, sum(requests) AS requests, sum(errors) AS errors
    FROM link_activity_monthly${where.length ? `\n    WHERE ${allOf(...where)}` : ''}
    GROUP BY link_id`;
}

/**
 * The body an error row shows: the stored error body, or one built from its code, message and
 * request_id. Successful responses never show a body (they may hold end users' financial data);
 * ingest never stores one either, this guards the view as well.
 */
export const errorBody = `if(status_code >= 400,
      if(response_body != '', response_body,
         toJSONString(map('code', error_code, 'message', error_message, 'request_id', request_id))),
      '')`;

/** '2xx', '4xx'...: the split of "requests over time". */
export const responseClass = `concat(toString(intDiv(status_code, 100)), 'xx')`;
