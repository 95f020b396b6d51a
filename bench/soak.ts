import { runStep, type StepResult } from './end-to-end.js';
import type { BenchOptions } from './options.js';
import type { RunningPipeline } from './pipeline-processes.js';
import type { Progress } from './progress.js';
import { processMemoryMiB } from './machine.js';
import { round } from './stats.js';
import type { TrafficPool } from './traffic-pool.js';

const RAW_TABLES = ['request_logs', 'webhook_attempts', 'links'];

/** One minute of the soak. */
export interface SoakMinute {
  minute: number;
  acceptedRecordsPerSecond: number;
  ingestP99Ms: number;
  freshnessP99Ms?: number;
  /** RSS at the end of the minute (what stays), and its peak during it */
  rssMiB: { ingest: number; worker: number; ingestPeak: number; workerPeak: number };
  redisUsedMiB: number;
  /** active parts per raw table at the end of the minute */
  partsPerTable: Record<string, number>;
  rejectedRequests: StepResult['rejectedRequests'];
  drainSeconds: number;
}

export interface SoakResult {
  recordsPerSecond: number;
  minutes: SoakMinute[];
  /** each figure's last minute against its first: last / first */
  lastOverFirst: Record<string, number>;
}

async function activeParts(p: RunningPipeline): Promise<Record<string, number>> {
  const rows = await (
    await p.clickhouse.query({
      query: `SELECT table, count() AS n FROM system.parts WHERE active AND database = '${p.config.CLICKHOUSE_DATABASE}' AND table IN (${RAW_TABLES.map((t) => `'${t}'`).join(',')}) GROUP BY table`,
      format: 'JSONEachRow',
    })
  ).json<{ table: string; n: string }>();
  return Object.fromEntries(RAW_TABLES.map((t) => [t, Number(rows.find((r) => r.table === t)?.n ?? 0)]));
}

/**
 * `npm run bench -- --only=soak [--soak-minutes=10] [--rate=40000]`: one rate held for many
 * minutes, measured minute by minute, to see whether anything grows (memory, parts, latency).
 * Each minute is one end-to-end step (bench/end-to-end.ts runStep) and the queue drains between
 * two minutes (under a second at half rate), so every minute's freshness is complete.
 */
export async function runSoak(o: BenchOptions['soak'] & { pipeline: RunningPipeline; pool: TrafficPool; progress: Progress }): Promise<SoakResult> {
  const minutes: SoakMinute[] = [];
  for (let m = 1; m <= o.minutes; m++) {
    const step = await runStep({
      pipeline: o.pipeline,
      pool: o.pool,
      recordsPerSecond: o.recordsPerSecond,
      durationMs: 60_000,
      maxInFlight: o.maxInFlight,
      drainTimeoutMs: o.drainTimeoutMs,
      measureFreshness: true,
      // the first minute is measured after a warm-up at the same rate (JIT, sockets, first flushes)
      warmupMs: m === 1 ? 10_000 : 0,
      progress: o.progress,
      label: `soak, minute ${m} of ${o.minutes}`,
    });
    const mem = (pid: number) => round(processMemoryMiB(pid)?.rss ?? Number.NaN);
    const minute: SoakMinute = {
      minute: m,
      acceptedRecordsPerSecond: step.acceptedRecordsPerSecond,
      ingestP99Ms: step.ingestLatencyMs.p99,
      ...(step.freshnessMs ? { freshnessP99Ms: step.freshnessMs.p99 } : {}),
      rssMiB: { ingest: mem(o.pipeline.ingest.pid!), worker: mem(o.pipeline.worker.pid!), ingestPeak: step.peakRssMiB.ingest, workerPeak: step.peakRssMiB.worker },
      redisUsedMiB: round((await o.pipeline.redisMemoryBytes()).used / 2 ** 20),
      partsPerTable: await activeParts(o.pipeline),
      rejectedRequests: step.rejectedRequests,
      drainSeconds: step.drainSeconds,
    };
    minutes.push(minute);
    o.progress.done(`soak minute ${m}: ${formatMinute(minute)}`);
  }
  return { recordsPerSecond: o.recordsPerSecond, minutes, lastOverFirst: compare(minutes[0], minutes.at(-1)) };
}

function figures(m: SoakMinute): Record<string, number> {
  return {
    ingestP99Ms: m.ingestP99Ms,
    freshnessP99Ms: m.freshnessP99Ms ?? Number.NaN,
    ingestRssMiB: m.rssMiB.ingest,
    workerRssMiB: m.rssMiB.worker,
    redisUsedMiB: m.redisUsedMiB,
    ...Object.fromEntries(Object.entries(m.partsPerTable).map(([t, n]) => [`parts.${t}`, n])),
  };
}

function compare(first: SoakMinute | undefined, last: SoakMinute | undefined): Record<string, number> {
  if (!first || !last) return {};
  const a = figures(first);
  const b = figures(last);
  return Object.fromEntries(Object.keys(a).map((k) => [k, round(b[k]! / a[k]!)]));
}

export function formatMinute(m: SoakMinute): string {
  const parts = Object.entries(m.partsPerTable)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  return (
    `${m.acceptedRecordsPerSecond}/s accepted, ingest p99 ${m.ingestP99Ms} ms, freshness p99 ${m.freshnessP99Ms ?? '-'} ms, ` +
    `RSS ingest ${m.rssMiB.ingest} / worker ${m.rssMiB.worker} MiB (peaks ${m.rssMiB.ingestPeak} / ${m.rssMiB.workerPeak}), Redis ${m.redisUsedMiB} MiB, parts: ${parts}`
  );
}

/** The soak as a table, a row per minute, and the last minute over the first. */
export function formatSoak(s: SoakResult): string {
  const header = '| minute | accepted/s | ingest p99 ms | freshness p99 ms | ingest RSS MiB | worker RSS MiB | Redis MiB | parts (logs / webhooks / links) |';
  const rows = s.minutes.map(
    (m) =>
      `| ${m.minute} | ${m.acceptedRecordsPerSecond} | ${m.ingestP99Ms} | ${m.freshnessP99Ms ?? '-'} | ${m.rssMiB.ingest} | ${m.rssMiB.worker} | ${m.redisUsedMiB} | ${RAW_TABLES.map((t) => m.partsPerTable[t]).join(' / ')} |`,
  );
  const ratios = Object.entries(s.lastOverFirst)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [`soak at ${s.recordsPerSecond} records/s:`, header, '| --- | --- | --- | --- | --- | --- | --- | --- |', ...rows, `last minute / first: ${ratios}`].join('\n');
}
