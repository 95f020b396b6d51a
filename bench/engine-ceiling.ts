import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { kindNames, recordKinds, type Row } from '../schema/records.js';
import { compactRows, encodeRows, type JobRows } from '../queue/job-rows.js';
import { ClickHouseWriter, joinBlocks } from '../workers/clickhouse-writer.js';
import type { BenchEngine } from './engine.js';
import type { Progress } from './progress.js';
import { median, round } from './stats.js';

/**
 * The embedded engine's insert rate for the pipeline's own rows and tables (materialized views
 * included), with nothing in front of it: no HTTP, no queue. Two figures:
 *  - engine: pre-serialised bytes handed to the engine (chdb rawInsert), timed alone, in
 *    JSONEachRow and in JSONCompactEachRow (the pipeline's format); the faster is the ceiling the
 *    end-to-end rate is compared with;
 *  - worker insert path: the same rows queued as jobs of JOB_ROWS rows (ingest's encoding, done
 *    before timing), then joined into one block and inserted by ClickHouseWriter.insertOnce, i.e.
 *    the worker's own work on top of the engine;
 *  - client objects: the rows as objects through @clickhouse/client's insert (what the worker did
 *    before it serialised itself; kept so every run shows that optimisation's before/after).
 * Blocks of `blockRows` rows per insert (the worker's FLUSH_MAX_ROWS), one table after another,
 * each with the worker's insert settings and a fresh deduplication token.
 */
export interface EngineCeiling {
  /** the raw format of the ceiling: the faster one in this run */
  engineFormat: RawFormat;
  engineRowsPerSecondByFormat: Record<RawFormat, number>;
  blockRows: number;
  rowsPerRun: number;
  repetitions: number;
  engineRowsPerSecond: number;
  workerPathRowsPerSecond: number;
  clientObjectsRowsPerSecond: number;
  engineRunsRowsPerSecond: number[];
  /** CPU the engine used per 1,000 rows in the raw runs (this process, all its threads; median) */
  engineCpuMsPer1k: number;
  /**
   * The same, counting also the merges those inserts caused until they settle (the runs start
   * settled): the pipeline's half-rate CPU counts its merges, so its ratio to the engine must too.
   * With merges at nice 19 (clickhouse/client.ts) most of them run after the inserts return.
   */
  engineCpuMsPer1kWithMerges: number;
  /** seconds waited after each raw run for its merges (median), and whether every wait settled */
  mergeWait: { seconds: number; settled: boolean };
  /**
   * The same raw insert in the block size a pipeline at a few thousand records/s actually writes:
   * each insert has a fixed cost (parts, materialized views, the merges they cause), so the
   * engine's rate and CPU per row depend on block size.
   */
  smallBlocks?: { blockRows: number; rowsPerSecond: number; cpuMsPer1k: number };
  workerPathRunsRowsPerSecond: number[];
  clientObjectsRunsRowsPerSecond: number[];
}

const insertSettings = (token: string) => ({
  insert_deduplicate: 1,
  insert_deduplication_token: token,
  deduplicate_blocks_in_dependent_materialized_views: 1,
  input_format_skip_unknown_fields: 0,
  date_time_input_format: 'basic',
}) as const;

const rawFormats = ['JSONEachRow', 'JSONCompactEachRow'] as const;
type RawFormat = (typeof rawFormats)[number];
interface RawPayload {
  table: string;
  format: RawFormat;
  blocks: { rows: number; columns: string[]; bytes: Buffer }[];
}

/** A block as the bytes a raw insert takes, in either format (compact: values in `columns` order). */
function encodeBlock(rows: (Row & { batch_id: string })[], format: RawFormat): RawPayload['blocks'][number] {
  const compact = compactRows(rows);
  const bytes = format === 'JSONEachRow' ? Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n')) : compact.text;
  return { rows: rows.length, columns: compact.columns, bytes };
}

/** Rows per job in the worker-path runs: the simulator's batch size. */
const JOB_ROWS = 500;

function blocksOf<T>(rows: T[], size: number, minRows: number): T[][] {
  const out: T[][] = [];
  let total = 0;
  while (total < minRows) {
    for (let i = 0; i < rows.length && total < minRows; i += size) {
      const block = rows.slice(i, i + size);
      out.push(block);
      total += block.length;
    }
  }
  return out;
}

export async function measureEngineCeiling(o: {
  engine: BenchEngine;
  database: string;
  rowsByTable: Map<string, (Row & { batch_id: string })[]>;
  blockRows: number;
  smallBlockRows?: number;
  rowsPerRun: number;
  repetitions: number;
  /** merges are settled once none has run and the active parts stayed the same for this long */
  mergeQuietMs?: number;
  progress: Progress;
}): Promise<EngineCeiling> {
  await o.engine.migrate(o.database);
  const total = [...o.rowsByTable.values()].reduce((n, r) => n + r.length, 0);
  // Each table's share of the run follows its share of the traffic.
  const plan = [...o.rowsByTable].map(([table, rows]) => ({
    table,
    blocks: blocksOf(rows, o.blockRows, Math.ceil((o.rowsPerRun * rows.length) / total)),
  }));
  const payloads = (format: RawFormat) =>
    plan.map((p) => ({ table: p.table, format, blocks: p.blocks.map((b) => encodeBlock(b, format)) }));
  const byFormat = { JSONEachRow: payloads('JSONEachRow'), JSONCompactEachRow: payloads('JSONCompactEachRow') };
  const kindOf = (table: string) => kindNames.find((k) => recordKinds[k].table === table)!;
  const jobPlan = plan.map((p) => ({
    table: p.table,
    blocks: p.blocks.map((b) => {
      // each job's rows as the worker reads them from Redis: bytes of ingest's encoding
      const jobs: JobRows[] = [];
      for (let i = 0; i < b.length; i += JOB_ROWS) {
        const rows = b.slice(i, i + JOB_ROWS).map(({ batch_id: _, ...row }) => row as Row);
        const { job, text } = encodeRows(kindOf(p.table), b[i]!.batch_id, 0, rows);
        jobs.push({ columns: job.columns, text: Buffer.from(text), count: job.count });
      }
      return { rows: b.length, jobs };
    }),
  }));
  const writer = new ClickHouseWriter({ client: o.engine.client, database: o.database, logger: pino({ level: 'silent' }), signal: new AbortController().signal });

  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const quietMs = o.mergeQuietMs ?? 6000;
  const one = async (query: string) => Number(Object.values((await (await o.engine.client.query({ query, format: 'JSONEachRow' })).json<Record<string, string>>())[0]!)[0]);
  /**
   * Waits until no merge runs in the database and its active parts stay the same for quietMs (a
   * merge is picked some seconds after the parts that need it appear). Returns the seconds waited.
   */
  const settle = async (label: string) => {
    const started = Date.now();
    let quietSince = Date.now();
    let parts = -1;
    while (Date.now() - started < 180_000) {
      const running = await one(`SELECT count() FROM system.merges WHERE database = '${o.database}'`);
      const now = await one(`SELECT count() FROM system.parts WHERE database = '${o.database}' AND active`);
      if (running > 0 || now !== parts) quietSince = Date.now();
      parts = now;
      if (Date.now() - quietSince >= quietMs) return { seconds: (Date.now() - started - quietMs) / 1000, settled: true };
      o.progress.update(`${label}: waiting for its merges (${running} running, ${now} parts)`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { seconds: (Date.now() - started) / 1000, settled: false };
  };
  const mergeWaits: { seconds: number; settled: boolean }[] = [];
  const rawRun = async (blocks: RawPayload[], label: string, withMerges = false) => {
    let rows = 0;
    let ms = 0;
    if (withMerges) await settle(`${label} (before)`);
    const cpu0 = cpuMs();
    for (const p of blocks) {
      for (const b of p.blocks) {
        const t = performance.now();
        await o.engine.connection.chdb.rawInsert({
          table: `${o.database}.${p.table}`,
          ...(p.format === 'JSONCompactEachRow' ? { columns: b.columns } : {}),
          values: b.bytes,
          format: p.format,
          settings: insertSettings(randomUUID()),
        } as never);
        ms += performance.now() - t;
        rows += b.rows;
        o.progress.update(`${label}: ${rows} rows`);
      }
    }
    const cpuInserted = cpuMs();
    let cpuMsPer1kWithMerges = Number.NaN;
    if (withMerges) {
      const wait = await settle(label);
      mergeWaits.push(wait);
      // the quiet period's own idle CPU is counted too: a few ms, against seconds of merges
      cpuMsPer1kWithMerges = ((cpuMs() - cpu0) / rows) * 1000;
    }
    return { rowsPerSecond: rows / (ms / 1000), cpuMsPer1k: ((cpuInserted - cpu0) / rows) * 1000, cpuMsPer1kWithMerges };
  };

  const raw = {
    JSONEachRow: { rates: [] as number[], cpu: [] as number[], cpuWithMerges: [] as number[] },
    JSONCompactEachRow: { rates: [] as number[], cpu: [] as number[], cpuWithMerges: [] as number[] },
  };
  const workerRuns: number[] = [];
  const clientRuns: number[] = [];
  for (let rep = 0; rep < o.repetitions; rep++) {
    for (const format of rawFormats) {
      const r = await rawRun(byFormat[format], `engine raw insert (${format}), run ${rep + 1}/${o.repetitions}`, true);
      raw[format].rates.push(r.rowsPerSecond);
      raw[format].cpu.push(r.cpuMsPer1k);
      raw[format].cpuWithMerges.push(r.cpuMsPer1kWithMerges);
    }

    let rows = 0;
    let ms = 0;
    for (const p of jobPlan) {
      for (const block of p.blocks) {
        const t = performance.now();
        await writer.insertOnce(p.table, joinBlocks(block.jobs), randomUUID());
        ms += performance.now() - t;
        rows += block.rows;
        o.progress.update(`worker insert path, run ${rep + 1}/${o.repetitions}: ${rows} rows`);
      }
    }
    workerRuns.push(rows / (ms / 1000));

    rows = 0;
    ms = 0;
    for (const p of plan) {
      for (const block of p.blocks) {
        const t = performance.now();
        await o.engine.client.insert({ table: `${o.database}.${p.table}`, values: block, format: 'JSONEachRow', clickhouse_settings: insertSettings(randomUUID()) });
        ms += performance.now() - t;
        rows += block.length;
        o.progress.update(`client insert of row objects, run ${rep + 1}/${o.repetitions}: ${rows} rows`);
      }
    }
    clientRuns.push(rows / (ms / 1000));
  }
  let smallBlocks: EngineCeiling['smallBlocks'];
  if (o.smallBlockRows) {
    // fewer rows: at small blocks the run is slow, and the rate is what matters
    const small = [...o.rowsByTable].map(([table, rows]) => ({
      table,
      format: 'JSONCompactEachRow' as const,
      blocks: blocksOf(rows, o.smallBlockRows!, Math.ceil((o.rowsPerRun * rows.length) / total / 4)).map((b) => encodeBlock(b, 'JSONCompactEachRow')),
    }));
    const runs = [];
    for (let rep = 0; rep < o.repetitions; rep++) runs.push(await rawRun(small, `engine raw insert, ${o.smallBlockRows}-row blocks, run ${rep + 1}/${o.repetitions}`));
    smallBlocks = { blockRows: o.smallBlockRows, rowsPerSecond: round(median(runs.map((r) => r.rowsPerSecond))), cpuMsPer1k: round(median(runs.map((r) => r.cpuMsPer1k))) };
  }
  await o.engine.client.command({ query: `DROP DATABASE IF EXISTS ${o.database} SYNC` });
  // The ceiling is the engine at its best: the faster of the two formats (the pipeline sends the compact one).
  const medians = Object.fromEntries(rawFormats.map((f) => [f, round(median(raw[f].rates))])) as Record<RawFormat, number>;
  const best = rawFormats.reduce((a, b) => (medians[b] > medians[a] ? b : a));
  const engineRuns = raw[best].rates;
  return {
    engineFormat: best,
    engineRowsPerSecondByFormat: medians,
    engineCpuMsPer1k: round(median(raw[best].cpu)),
    engineCpuMsPer1kWithMerges: round(median(raw[best].cpuWithMerges)),
    mergeWait: { seconds: round(median(mergeWaits.map((w) => w.seconds))), settled: mergeWaits.every((w) => w.settled) },
    ...(smallBlocks ? { smallBlocks } : {}),
    blockRows: o.blockRows,
    rowsPerRun: byFormat.JSONEachRow.reduce((n, p) => n + p.blocks.reduce((m, b) => m + b.rows, 0), 0),
    repetitions: o.repetitions,
    engineRowsPerSecond: round(median(engineRuns)),
    workerPathRowsPerSecond: round(median(workerRuns)),
    clientObjectsRowsPerSecond: round(median(clientRuns)),
    engineRunsRowsPerSecond: engineRuns.map((r) => round(r)),
    clientObjectsRunsRowsPerSecond: clientRuns.map((r) => round(r)),
    workerPathRunsRowsPerSecond: workerRuns.map((r) => round(r)),
  };
}
