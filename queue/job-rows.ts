import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Row } from '../schema/records.js';
import { redisKeys } from './redis-keys.js';
import { type BatchJob, type BatchJobV3, type EncodedBatch } from './jobs.js';

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

/** Row arrays as the rows' text: one JSON.stringify for all of them, outer brackets dropped. */
const rowsText = (rows: unknown[][]): string => (rows.length ? JSON.stringify(rows).slice(1, -1) : '');

/** Rows per JSON.stringify in rowsBytes: ~40 KB of text for typical rows, well under V8's 128 KiB large-object size. */
const ROWS_PER_CHUNK = 64;
const COMMA = 0x2c;

/**
 * The same bytes as rowsText, as one Buffer made from chunks of ROWS_PER_CHUNK rows. A batch's
 * text (150-600 KB) as one string lands in V8's large-object space, fresh pages every time, and
 * ioredis then joins it into a command string V8 flattens into a second one. Small chunks die
 * young in the 64 MiB young generation (ingest/node-flags.ts): encode + SET ~50 -> ~30 page
 * faults a batch and up to 1.4x less CPU (docs/performance.md, section 37). A fresh Buffer per
 * batch, never reused: ioredis may still hold it.
 */
export function rowsBytes(rows: unknown[][]): Buffer {
  const chunks: string[] = [];
  let bytes = 0;
  for (let i = 0; i < rows.length; i += ROWS_PER_CHUNK) {
    const chunk = JSON.stringify(rows.length <= ROWS_PER_CHUNK ? rows : rows.slice(i, i + ROWS_PER_CHUNK));
    chunks.push(chunk);
    bytes += Buffer.byteLength(chunk) - 2 + (i > 0 ? 1 : 0); // without its brackets; a comma before all but the first
  }
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let c = 0; c < chunks.length; c++) {
    if (c > 0) out[at++] = COMMA;
    const chunk = chunks[c]!;
    at += out.write(chunk.slice(1, -1), at);
  }
  // allocUnsafe's memory is not zeroed: every byte must be ours
  if (at !== bytes) throw new Error(`rowsBytes wrote ${at} of ${bytes} bytes`);
  return out;
}

/** A v3 job's rows are missing from Redis: nothing can ever write this job, so it fails at once (no retries). */
export class RowsMissingError extends UnrecoverableError {}

/**
 * Ingest side: the v3 job and its rows' text, from rows already in `columns` order with the batch
 * id last (schema/row-mapping.ts `toValues`). One JSON.stringify per 64 rows (rowsBytes): per-row
 * calls cost ~40% more.
 */
export function encodeValues(kind: BatchJob['kind'], batchId: string, receivedAt: number, columns: readonly string[], rows: unknown[][]): EncodedBatch {
  return { job: { v: 3, kind, batch_id: batchId, received_at: receivedAt, columns: [...columns, 'batch_id'], count: rows.length }, text: rowsBytes(rows) };
}

/** encodeValues for row objects that all come from one row mapping (same keys, same order). */
export function encodeRows(kind: BatchJob['kind'], batchId: string, receivedAt: number, rows: Row[]): EncodedBatch {
  const keys = Object.keys(rows[0] ?? {});
  return encodeValues(kind, batchId, receivedAt, keys, rows.map((row) => [...keys.map((k) => row[k]), batchId]));
}

/** Row objects as compact rows in `columns` order (a missing value is null): the path off the hot one. */
export function compactRows(rows: Record<string, unknown>[], columns: string[] = Object.keys(rows[0] ?? {})): JobRows {
  return { columns, text: Buffer.from(rowsText(rows.map((r) => columns.map((c) => r[c] ?? null)))), count: rows.length };
}

/**
 * A job's rows, whatever its version: v3 rows are read from Redis (as bytes, never decoded), v2
 * text is re-separated, and v1 objects (older queues, dead-letter replays) are encoded.
 */
export async function readJobRows(redis: Redis, prefix: string, job: { id?: string; data: BatchJob }): Promise<JobRows> {
  const data = job.data;
  if (data.v !== 3) return inlineJobRows(data);
  if (data.count === 0) return { columns: data.columns, text: Buffer.alloc(0), count: 0 };
  const text = await redis.getBuffer(redisKeys(prefix).rows(job.id!));
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

/** The rows as value arrays; undefined when the text is not JSON at all. */
function parseRows(rows: JobRows): unknown[][] | undefined {
  if (rows.count === 0) return [];
  try {
    return JSON.parse(`[${rows.text.toString()}]`) as unknown[][];
  } catch {
    return undefined;
  }
}

/**
 * The rows one by one, each as its own JSON array text (isolating a bad row, dead letters). Text
 * that is not JSON at all comes back whole, as one row the engine will refuse and dead-letter.
 */
export function splitRows(rows: JobRows): string[] {
  return parseRows(rows)?.map((r) => JSON.stringify(r)) ?? [rows.text.toString()];
}

/** One row's values as an object (without batch_id). */
function valuesToObject(columns: string[], values: unknown[]): Row {
  const out: Row = {};
  columns.forEach((c, i) => {
    if (c !== 'batch_id') out[c] = (values[i] ?? null) as Row[string];
  });
  return out;
}

/** One row's text back as an object (without batch_id): for dead letters. */
export function rowToObject(columns: string[], row: string): Row {
  return valuesToObject(columns, JSON.parse(row) as unknown[]);
}

/** Rows as objects (without batch_id): for crash repair and tests. Throws on text that is not JSON. */
export function rowObjects(rows: JobRows): Row[] {
  const parsed = parseRows(rows);
  if (!parsed) throw new SyntaxError('the rows are not JSON');
  return parsed.map((values) => valuesToObject(rows.columns, values));
}
