import { kindNames, recordKinds, type RawTable } from '../schema/records.js';

export type { RawTable };

/**
 * What the code needs to know about the tables in sql/ beyond their DDL: the time column of each
 * raw table (from its record kind), and how each materialized-view rollup is rebuilt for a slice
 * of its source after an embedded engine died mid-insert. A test checks this list against the
 * views the migrations create.
 */
export const rawTableTime = Object.fromEntries(kindNames.map((k) => [recordKinds[k].table, recordKinds[k].timeColumn])) as Record<RawTable, string>;

/**
 * The hour bound that a range [from, to] on a raw table's time column implies. request_logs and
 * webhook_attempts sort by toStartOfHour(timestamp) first, and the engine does not narrow that
 * key from a range on the DateTime64 column alone (a 5-minute window at 10M logs read 828 of 1,230
 * granules; 9 with this bound: docs/performance.md, section 26). Hours are taken in UTC, the
 * columns' zone, whatever the server's zone is.
 */
export const hourKeyBound = (column: string, from: string, to: string) =>
  `toStartOfHour(${column}) BETWEEN toStartOfHour(toTimeZone(${from}, 'UTC')) AND toStartOfHour(toTimeZone(${to}, 'UTC'))`;

export interface Rollup {
  view: string;
  target: string;
  /** the raw table whose rows it summarises; its flushes are what crash repair rebuilds after */
  source: RawTable;
  /**
   * The table its view reads when that is not `source`: the target of a rollup over the same
   * source listed before this one, so crash repair rebuilds that first and this one from it.
   */
  from?: string;
  /**
   * buckets: the rollup aggregates by a time bucket; rebuild = delete the touched buckets and
   * re-run the view's SELECT over the raw rows of those buckets.
   * replay: the target deduplicates by itself (ReplacingMergeTree); rebuild = re-insert the
   * touched keys' raw rows.
   */
  rebuild: { kind: 'buckets'; column: string; expr: string } | { kind: 'replay'; column: string };
}

export const rollups: Rollup[] = [
  {
    view: 'request_stats_1m_mv',
    target: 'request_stats_1m',
    source: 'request_logs',
    rebuild: { kind: 'buckets', column: 'minute', expr: 'toStartOfMinute(timestamp)' },
  },
  {
    view: 'request_status_1m_mv',
    target: 'request_status_1m',
    source: 'request_logs',
    rebuild: { kind: 'buckets', column: 'minute', expr: 'toStartOfMinute(timestamp)' },
  },
  {
    // Its touched hours are rebuilt from the request_stats_1m just rebuilt (as request_status_1h).
    view: 'request_endpoints_1h_mv',
    target: 'request_endpoints_1h',
    source: 'request_logs',
    from: 'request_stats_1m',
    rebuild: { kind: 'buckets', column: 'hour', expr: 'toStartOfHour(timestamp)' },
  },
  {
    // Its touched hours are rebuilt from the request_status_1m just rebuilt (as request_errors_5m).
    view: 'request_status_1h_mv',
    target: 'request_status_1h',
    source: 'request_logs',
    from: 'request_status_1m',
    rebuild: { kind: 'buckets', column: 'hour', expr: 'toStartOfHour(timestamp)' },
  },
  {
    view: 'request_errors_1m_mv',
    target: 'request_errors_1m',
    source: 'request_logs',
    rebuild: { kind: 'buckets', column: 'minute', expr: 'toStartOfMinute(timestamp)' },
  },
  {
    // Its touched buckets are rebuilt from the request_errors_1m just rebuilt (as link_activity_lookup).
    view: 'request_errors_5m_mv',
    target: 'request_errors_5m',
    source: 'request_logs',
    from: 'request_errors_1m',
    rebuild: { kind: 'buckets', column: 'bucket', expr: 'toStartOfFiveMinutes(timestamp)' },
  },
  {
    view: 'link_activity_mv',
    target: 'link_activity',
    source: 'request_logs',
    rebuild: { kind: 'buckets', column: 'day', expr: 'toDate(timestamp)' },
  },
  {
    // Per link and month (sql/016; link_activity_monthly is a view over it since sql/018): its
    // touched months are rebuilt from the link_activity just rebuilt, which also undoes what that
    // rebuild fed it through the view.
    view: 'link_activity_lookup_mv',
    target: 'link_activity_lookup',
    source: 'request_logs',
    from: 'link_activity',
    rebuild: { kind: 'buckets', column: 'month', expr: 'toStartOfMonth(timestamp)' },
  },
  {
    view: 'webhook_stats_1m_mv',
    target: 'webhook_stats_1m',
    source: 'webhook_attempts',
    rebuild: { kind: 'buckets', column: 'minute', expr: 'toStartOfMinute(timestamp)' },
  },
  {
    // Its touched hours are rebuilt from the webhook_stats_1m just rebuilt (as request_status_1h).
    view: 'webhook_events_1h_mv',
    target: 'webhook_events_1h',
    source: 'webhook_attempts',
    from: 'webhook_stats_1m',
    rebuild: { kind: 'buckets', column: 'hour', expr: 'toStartOfHour(timestamp)' },
  },
  {
    view: 'links_latest_mv',
    target: 'links_latest',
    source: 'links',
    rebuild: { kind: 'replay', column: 'link_id' },
  },
];
