import { parseError, type ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { chTime } from '../schema/records.js';
import { compactRows, rowToObject, splitRows, type JobRows } from '../queue/job-rows.js';

/**
 * ClickHouse error codes that mean "this data can never be written" (parse and type errors).
 * Everything else (network, timeouts, too many parts, memory, a missing table during a deploy)
 * is treated as transient and retried forever: a wrong guess there costs time, not data.
 */
const DATA_ERROR_CODES = new Set([
  '6', // CANNOT_PARSE_TEXT
  '26', // CANNOT_PARSE_QUOTED_STRING
  '27', // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  '32', // ATTEMPT_TO_READ_AFTER_EOF
  '38', // CANNOT_PARSE_DATE
  '41', // CANNOT_PARSE_DATETIME
  '53', // TYPE_MISMATCH
  '69', // ARGUMENT_OUT_OF_BOUND
  '70', // CANNOT_CONVERT_TYPE
  '72', // CANNOT_PARSE_NUMBER
  '117', // INCORRECT_DATA
  '131', // TOO_LARGE_STRING_SIZE
  '321', // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  '349', // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  '457', // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE (decimal)
]);

export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && DATA_ERROR_CODES.has(code) && 'type' in (err as object);
}

export interface WriterOptions {
  client: ClickHouseClient;
  database: string;
  logger: Logger;
  /** Aborted on shutdown: stop retrying a write that cannot succeed now. */
  signal: AbortSignal;
  /** Called after each failed attempt (metrics, tests). */
  onRetry?: (table: string, err: unknown, attempt: number) => void;
  /** Called after each successful insert (metrics). */
  onInsert?: (table: string, rows: number, seconds: number) => void;
}

export class ShutdownError extends Error {}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((res, rej) => {
    if (signal.aborted) return rej(new ShutdownError('shutting down'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(new ShutdownError('shutting down'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** Rows to insert as one block: JSONCompactEachRow in `columns` order (queue/job-rows.ts). */
export type Block = JobRows;

const COMMA = Buffer.from(',');

/** Concatenates blocks with the same columns; the same blocks in the same order give the same bytes. */
export function joinBlocks(blocks: Block[]): Block {
  const parts = blocks.filter((b) => b.count > 0);
  if (parts.length === 1) return parts[0]!;
  const chunks: Buffer[] = [];
  for (const b of parts) {
    if (chunks.length) chunks.push(COMMA);
    chunks.push(b.text);
  }
  return {
    columns: parts[0]?.columns ?? blocks[0]?.columns ?? [],
    text: Buffer.concat(chunks),
    count: parts.reduce((n, b) => n + b.count, 0),
  };
}

/** The embedded engine's raw insert: the text handed to the engine as is (chdb's `.chdb.rawInsert`). */
type RawInsert = (params: {
  table: string;
  columns: string[];
  values: Buffer;
  format: 'JSONCompactEachRow';
  settings: Record<string, string | number>;
}) => Promise<unknown>;

/**
 * When the client wraps the embedded engine (clickhouse/client.ts injects a chdb connection), its
 * raw insert: the rows go to the engine as one Buffer, parsed by the engine's parallel parser,
 * instead of being serialised row by row by the client, joined into one SQL string and parsed
 * inline (1.4-1.9x the rows/s at 10k-50k-row blocks; docs/performance.md).
 */
function embeddedRawInsert(client: ClickHouseClient): RawInsert | undefined {
  const chdb = (client as unknown as { connection?: { chdb?: { rawInsert?: RawInsert } } }).connection?.chdb;
  return typeof chdb?.rawInsert === 'function' ? chdb.rawInsert.bind(chdb) : undefined;
}

const identifier = (name: string) => `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;

/** The raw insert's errors carry ClickHouse's text; give them the client's {code, type} shape so isDataError applies. */
function asClickHouseError(err: unknown): unknown {
  const message = (err as Error)?.message;
  if (typeof message !== 'string') return err;
  const parsed = parseError(message.slice(message.indexOf('Code:') >= 0 ? message.indexOf('Code:') : 0));
  return 'code' in parsed ? Object.assign(parsed, { cause: err }) : err;
}

/**
 * Inserts blocks idempotently. Every insert carries an insert_deduplication_token chosen by the
 * caller; resending the same token after a crash or timeout is dropped by ClickHouse, in the raw
 * table and (deduplicate_blocks_in_dependent_materialized_views) in every rollup.
 */
export class ClickHouseWriter {
  /** Inserts currently waiting to retry: the worker is blocked on ClickHouse, not wedged. */
  retrying = 0;
  private readonly rawInsert: RawInsert | undefined;

  constructor(private readonly opts: WriterOptions) {
    this.rawInsert = embeddedRawInsert(opts.client);
  }

  /** Inserts once, throwing the ClickHouse error as is. */
  async insertOnce(table: string, block: Block, token: string): Promise<void> {
    const t0 = performance.now();
    // Every setting goes with this statement (SETTINGS clause, or the request's parameters): none
    // may be left to a session, where a deduplication token would outlive its insert.
    const settings = {
      insert_deduplicate: 1,
      insert_deduplication_token: token,
      deduplicate_blocks_in_dependent_materialized_views: 1,
      input_format_skip_unknown_fields: 0,
      date_time_input_format: 'basic',
    } as const;
    if (this.rawInsert) {
      try {
        // The embedded engine shares the machine's cores with ingest and Redis, so CPU is what
        // runs out: parsing a block in one thread skips parallel parsing's segmentation pass and
        // hand-offs (~5% more records/s end to end; docs/performance.md). A server keeps it.
        const embedded = { ...settings, input_format_parallel_parsing: 0 };
        await this.rawInsert({ table: `${this.opts.database}.${table}`, columns: block.columns, values: block.text, format: 'JSONCompactEachRow', settings: embedded });
      } catch (err) {
        throw asClickHouseError(err);
      }
    } else {
      // The text is already the body the server parses: exec sends it as is, with no client-side
      // serialisation (client.insert would want one value per row to stringify again).
      const result = await this.opts.client.exec({
        query: `INSERT INTO ${identifier(this.opts.database)}.${identifier(table)} (${block.columns.map(identifier).join(', ')}) FORMAT JSONCompactEachRow`,
        values: Readable.from([block.text]),
        clickhouse_settings: settings,
      });
      result.stream.resume();
      await finished(result.stream);
    }
    this.opts.onInsert?.(table, block.count, (performance.now() - t0) / 1000);
  }

  /** Retries transient failures with capped backoff until it succeeds, fails on data, or shuts down. */
  async insertDurably(table: string, block: Block, token: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.insertOnce(table, block, token);
        return;
      } catch (err) {
        if (isDataError(err)) throw err;
        this.opts.onRetry?.(table, err, attempt);
        const delay = Math.min(200 * 2 ** Math.min(attempt - 1, 6), 10_000);
        this.opts.logger.warn({ table, attempt, delay, err: (err as Error).message }, 'insert failed; retrying');
        this.retrying++;
        try {
          await sleep(delay, this.opts.signal);
        } finally {
          this.retrying--;
        }
      }
    }
  }

  /**
   * Writes one job's rows when a combined block failed on data: halves the rows until the bad
   * ones stand alone, writes the rest, and dead-letters each bad row. Tokens derive from the job
   * id and row range, so a re-run after a crash repeats exactly the same blocks.
   */
  async writeIsolating(table: string, kind: string, job: { id: string; batchId: string }, rows: Block): Promise<number> {
    const lines = splitRows(rows);
    let deadLettered = 0;
    const visit = async (from: number, to: number): Promise<void> => {
      const slice = lines.slice(from, to);
      try {
        await this.insertDurably(table, { columns: rows.columns, text: Buffer.from(slice.join(',')), count: slice.length }, `job:${job.id}:${from}-${to}`);
      } catch (err) {
        if (!isDataError(err)) throw err;
        if (to - from === 1) {
          const e = err as Error & { code?: string; type?: string };
          await this.deadLetter(kind, table, job, from, rowText(rows.columns, slice[0]!), `Code: ${e.code} (${e.type ?? 'unknown'}). ${e.message}`);
          deadLettered++;
          return;
        }
        const mid = from + Math.ceil((to - from) / 2);
        await visit(from, mid);
        await visit(mid, to);
      }
    };
    await visit(0, lines.length);
    return deadLettered;
  }

  private async deadLetter(kind: string, table: string, job: { id: string; batchId: string }, index: number, row: string, error: string): Promise<void> {
    const id = `${job.id}:${index}`;
    this.opts.logger.error({ table, batch_id: job.batchId, id, error }, 'record dead-lettered');
    const now = Date.now();
    const letter = { id, kind, table_name: table, batch_id: job.batchId, row, error: error.slice(0, 4000), failed_at: chTime(now), replayed_at: null, version: now };
    await this.insertDurably('dead_letters', compactRows([letter]), `dl:${id}`);
  }
}

/** A dead letter keeps the row as the JSON object a replay queues again (the text itself if it is not JSON). */
function rowText(columns: string[], row: string): string {
  try {
    return JSON.stringify(rowToObject(columns, row));
  } catch {
    return row;
  }
}
