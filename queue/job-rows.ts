import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Row } from '../schema/records.js';
import { rowsKey, type BatchJob, type BatchJobV3 } from './jobs.js';

/**
 * A job's rows as ClickHouse JSONCompactEachRow: one JSON array per row, values in `columns`
 * order, batch_id last, rows separated by ',' (the format allows a comma after a row). Ingest
 * encodes them once; the worker joins the texts of a flush's jobs and hands them to the engine
 * untouched: no object per row in the worker.
 */
export interface JobRows {
  columns: string[];
  /** the rows separated by ',', no trailing separator; empty when count is 0 */
  text: Buffer;
  count: number;
}

/** A v3 job's rows are missing from Redis: nothing can ever write this job, so it fails at once (no retries). */
export class RowsMissingError extends UnrecoverableError {}

/**
 * Ingest side: the v3 job and its rows' text for rows that all come from one row mapper (same
 * keys, same order). One JSON.stringify for the whole batch: per-row calls cost ~40% more.
 */
export function encodeRows(kind: BatchJob['kind'], batchId: string, receivedAt: number, rows: Row[]): { job: BatchJobV3; text: string } {
  const keys = Object.keys(rows[0] ?? {});
  const width = keys.length;
  const all = new Array<unknown[]>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const values = new Array<unknown>(width + 1);
    for (let k = 0; k < width; k++) values[k] = row[keys[k]!];
    values[width] = batchId;
    all[i] = values;
  }
  const text = rows.length ? JSON.stringify(all).slice(1, -1) : '';
  return { job: { v: 3, kind, batch_id: batchId, received_at: receivedAt, columns: [...keys, 'batch_id'], count: rows.length }, text };
}

/** Row objects as compact rows in `columns` order (a missing value is null): the path off the hot one. */
export function compactRows(rows: Record<string, unknown>[], columns: string[] = Object.keys(rows[0] ?? {})): JobRows {
  const text = rows.length ? JSON.stringify(rows.map((r) => columns.map((c) => r[c] ?? null))).slice(1, -1) : '';
  return { columns, text: Buffer.from(text), count: rows.length };
}

/**
 * A job's rows, whatever its version: v3 rows are read from Redis (as bytes, never decoded), v2
 * text is re-separated, and v1 objects (older queues, dead-letter replays) are encoded.
 */
export async function readJobRows(redis: Redis, prefix: string, job: { id?: string; data: BatchJob }): Promise<JobRows> {
  const data = job.data;
  if (data.v !== 3) return inlineJobRows(data);
  if (data.count === 0) return { columns: data.columns, text: Buffer.alloc(0), count: 0 };
  const text = await redis.getBuffer(rowsKey(prefix, job.id!));
  if (text === null) throw new RowsMissingError(`the rows of job ${job.id} (batch ${data.batch_id}) are missing from Redis`);
  return { columns: data.columns, text, count: data.count };
}

/** A job's column list and row count, without reading its rows. */
export function jobShape(data: BatchJob): { columns: string[]; count: number } {
  if (data.v === 1) return inlineJobRows(data); // rare (replays): converting is simplest
  return { columns: data.columns, count: data.count };
}

/** v1 and v2 jobs carry their rows in the job itself. */
export function inlineJobRows(job: Exclude<BatchJob, BatchJobV3>): JobRows {
  // '\n' never occurs inside a JSON row (JSON.stringify escapes it), so it only separates rows
  if (job.v === 2) return { columns: job.columns, text: Buffer.from(job.rows.replaceAll('\n', ',')), count: job.count };
  // v1 rows carry no batch_id of their own except dead letters'; the job's batch id wins, as it always has
  const keys = Object.keys(job.rows[0] ?? {}).filter((k) => k !== 'batch_id');
  return compactRows(
    job.rows.map((r) => ({ ...r, batch_id: job.batch_id })),
    [...keys, 'batch_id'],
  );
}

/**
 * The rows one by one, each as its own JSON array text (isolating a bad row, dead letters). Text
 * that is not JSON at all comes back whole, as one row the engine will refuse and dead-letter.
 */
export function splitRows(rows: JobRows): string[] {
  if (rows.count === 0) return [];
  const text = rows.text.toString();
  let parsed: unknown;
  try {
    parsed = JSON.parse(`[${text}]`);
  } catch {
    return [text];
  }
  return (parsed as unknown[]).map((r) => JSON.stringify(r));
}

/** One row back as an object (without batch_id): for dead letters, crash repair and tests. */
export function rowToObject(columns: string[], row: string): Row {
  const values = JSON.parse(row) as Row[string][];
  const out: Row = {};
  columns.forEach((c, i) => {
    if (c !== 'batch_id') out[c] = values[i] ?? null;
  });
  return out;
}

/** Rows as objects (without batch_id). */
export function rowObjects(rows: JobRows): Row[] {
  return splitRows(rows).map((row) => rowToObject(rows.columns, row));
}
