import type { Row } from '../schema/records.js';
import type { BatchJob, BatchJobV2 } from './jobs.js';

/**
 * A job's rows as ClickHouse JSONCompactEachRow text: one JSON array per row, values in `columns`
 * order, batch_id last. Ingest writes it once; the worker concatenates the texts of the jobs in a
 * flush and hands them to the engine untouched: no object per row in the worker, ~40% fewer bytes
 * in Redis than v1's objects (docs/performance.md).
 */
export interface JobRows {
  columns: string[];
  /** rows joined by '\n', no trailing newline */
  text: string;
  count: number;
}

/** Ingest side: the v2 job for rows that all come from one row mapper (same keys, same order). */
export function encodeJob(kind: BatchJob['kind'], batchId: string, receivedAt: number, rows: Row[]): BatchJobV2 {
  const keys = Object.keys(rows[0] ?? {});
  const tail = `,${JSON.stringify(batchId)}]`;
  const lines = new Array<string>(rows.length);
  const values = new Array<unknown>(keys.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    for (let k = 0; k < keys.length; k++) values[k] = row[keys[k]!];
    const json = JSON.stringify(values);
    lines[i] = keys.length ? json.slice(0, -1) + tail : `[${tail.slice(1)}`;
  }
  return { v: 2, kind, batch_id: batchId, received_at: receivedAt, columns: [...keys, 'batch_id'], count: rows.length, rows: lines.join('\n') };
}

/** Row objects as compact rows in `columns` order (a missing value is null): the path off the hot one. */
export function compactRows(rows: Record<string, unknown>[], columns: string[] = Object.keys(rows[0] ?? {})): JobRows {
  return { columns, text: rows.map((r) => JSON.stringify(columns.map((c) => r[c] ?? null))).join('\n'), count: rows.length };
}

/** Worker side: any job version as compact rows (a v1 job, e.g. from a dead-letter replay, is converted). */
export function jobRows(job: BatchJob): JobRows {
  if (job.v === 2) return { columns: job.columns, text: job.rows, count: job.count };
  // v1 rows carry no batch_id of their own except dead letters'; the job's batch id wins, as it always has
  const keys = Object.keys(job.rows[0] ?? {}).filter((k) => k !== 'batch_id');
  return compactRows(
    job.rows.map((r) => ({ ...r, batch_id: job.batch_id })),
    [...keys, 'batch_id'],
  );
}

/** One line back as a row object (without batch_id): for dead letters, crash repair and tests. */
export function lineToRow(columns: string[], line: string): Row {
  const values = JSON.parse(line) as Row[string][];
  const row: Row = {};
  columns.forEach((c, i) => {
    if (c !== 'batch_id') row[c] = values[i] ?? null;
  });
  return row;
}

/** A job's rows as objects (without batch_id), whatever its version. */
export function jobRecords(job: BatchJob): Row[] {
  if (job.v === 1) return job.rows;
  const { columns, text, count } = jobRows(job);
  return count === 0 ? [] : text.split('\n').map((line) => lineToRow(columns, line));
}
