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

/**
 * `links_latest FINAL` and a WHERE: one row per link, its newest state, for panels that count links.
 * FINAL picks the row a merge keeps (the newest updated_at; on a tie, the last inserted), and the
 * engine (26.x) merges only the key ranges where parts overlap: on a mostly merged table it is a
 * plain scan of the columns asked for, where currentLinks groups a million String keys
 * (docs/performance.md, section 36). WHERE applies to the merged row, so a filter on the state
 * (status, access_mode) never matches a link by an older state.
 */
export function linksFinal(...where: string[]): string {
  return `links_latest FINAL${where.length ? `\n  WHERE ${allOf(...where)}` : ''}`;
}

/** States the newest-links window reads: enough for 1,000 links with a few unmerged states each. */
const NEWEST_LINK_STATES = 5_000;

/**
 * The creation time of the limit-th newest link whose identity and current state match: a
 * table of the newest links reads only links created since then (links_latest's by_created
 * projection, sql/013), not every link. Exact because a link's created_at is the same in all its
 * states: the window of the newest states holds every state of the links in it, so their current
 * state is known there. When the window holds fewer matching links (a rare state filter), the
 * cutoff is 1970 and the whole table is read, as without it.
 */
export function newestLinksCutoff(limit: number, identity: string[], state: string): string {
  const window = `(
        SELECT min(created_at) FROM (
          SELECT created_at FROM links_latest${identity.length ? ` WHERE ${allOf(...identity)}` : ''}
          ORDER BY created_at DESC
          LIMIT ${NEWEST_LINK_STATES}))`;
  return `ifNull((
    SELECT created_at
    FROM (${currentLinks(...identity, `created_at >= ${window}`)}
    )
    WHERE ${state}
    ORDER BY created_at DESC
    LIMIT 1 OFFSET ${limit - 1}
  ), toDateTime64(0, 3, 'UTC'))`;
}

/**
 * The activity months of links created since `t`: from the UTC month of the day before it (a
 * producer's clock may run behind the link's creation; no link is called before it exists). The
 * Links table's newest links then read the months since they were created, not every month kept
 * (400 days: a granule per link and month). `greatest` keeps a 1970 cutoff from wrapping.
 */
export const activityMonthsSince = (t: string) =>
  `month >= toStartOfMonth(toDate(greatest(${t}, toDateTime64(86400, 3, 'UTC')) - INTERVAL 1 DAY, 'UTC'))`;

/**
 * Last access and request totals per link, merged over its months and unmerged rollup parts. For a
 * few links (a page of the Links table, one link's header): link_activity_lookup (sql/016) reads a
 * 1,024-row granule per link, month and part, where link_activity_monthly read 8,192.
 */
export function linkLastAccess(...where: string[]): string {
  return `
    SELECT link_id, max(last_request_at) AS last_accessed_at, sum(requests) AS requests, sum(errors) AS errors
    FROM link_activity_lookup${where.length ? `\n    WHERE ${allOf(...where)}` : ''}
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

/**
 * The whole hours of the range, read from an hourly rollup while its minute table gives the edges:
 * F (firstWholeHourIn) is the first hour that starts in it, L (afterLastWholeHour) the end of the
 * last hour whose minutes all start in it (what $__timeFilter(minute) keeps). Hours are UTC, the
 * rollups' zone. An hourly table holds whole hours only from the hour after its first one: a
 * database migrated before it (sql/011, sql/014) has no hours from before it (and a part of the hour
 * it was created in); those stay with the minutes. Empty (nothing counted yet): never. The parts'
 * min/max answer it (the implicit minmax_count projection): no row is read.
 */
const firstHourKept = (table: string) => `(SELECT if(count() = 0, toDateTime(4294967295, 'UTC'), min(hour) + 3600) FROM ${table})`;
export const firstWholeHourIn = (table: string) => `greatest(toStartOfHour(toTimeZone($__fromTime + 3599, 'UTC')), ${firstHourKept(table)})`;
export const afterLastWholeHour = "toStartOfHour(toTimeZone($__toTime - 3540, 'UTC')) + 3600";
