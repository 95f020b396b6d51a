import { allOf } from './sql-filters.js';

/**
 * "The newest N rows" of a raw table without reading its whole time range. The raw tables sort by
 * toStartOfHour(timestamp) first, and `ORDER BY timestamp DESC LIMIT N` over a range reads every
 * row in it: at 100M logs a 24-hour range holds ~12M rows, for a table that shows 1000. A per-minute
 * rollup knows how many rows each minute holds, so the query first finds the newest minute from
 * which the rows up to the range's end are at least N, and reads the raw table from that minute
 * only (with the hour bound that lets the engine skip the older granules). What it reads then
 * follows N and the traffic of the last minutes, not the range or the table's size.
 *
 * Exact: only minutes wholly inside the range are counted (one starting after the range's first
 * second and ending by its last), so the cutoff is never newer than the N-th newest row, and every
 * row of the answer is at or after it. When nothing can be counted (a rollup cannot follow the
 * filters, or the range holds fewer than N rows) the cutoff is 1970 and the range alone bounds the
 * read. Each branch of `counts` is guarded by constants, so only the one that applies is read.
 */
export interface RowCounts {
  table: string;
  /** its time bucket column (a DateTime in UTC) and the bucket's length in seconds */
  bucket: string;
  seconds: number;
  /** the row count of a rollup row */
  rows: string;
  where: string[];
}

export function newestRowsCutoff(o: { limit: number; counts: RowCounts[] }): string {
  const branches = o.counts.map(
    (c) => `
        SELECT ${c.bucket} AS start, ${c.rows} AS rows
        FROM ${c.table}
        WHERE ${allOf(`${c.bucket} > $__fromTime`, `${c.bucket} <= $__toTime - ${c.seconds}`, ...c.where).replaceAll('\n    AND', '\n          AND')}`,
  );
  return `(
    SELECT max(start)
    FROM (
      SELECT start, sum(sum(rows)) OVER (ORDER BY start DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS newer_rows
      FROM (${branches.join('\n        UNION ALL')}
      )
      GROUP BY start
    )
    WHERE newer_rows >= ${o.limit}
  )`;
}

/** The raw-table condition for a cutoff named `cutoff` in the query's WITH clause. */
export const fromCutoff = (column: string, cutoff = 'cutoff') => `${column} >= ${cutoff} AND toStartOfHour(${column}) >= toStartOfHour(${cutoff})`;
