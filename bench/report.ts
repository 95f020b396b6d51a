import type { ExpressCeiling } from './express-ceiling.js';
import type { EngineCeiling } from './engine-ceiling.js';
import type { EndToEndResult } from './end-to-end.js';
import type { QueueCapResult } from './queue-cap.js';
import type { OtlpRateResult } from './otlp-rate.js';
import type { MachineInfo } from './machine.js';
import type { QuerySuite } from './query-bench.js';
import type { SoakResult } from './soak.js';
import type { DiskUsage } from './disk-usage.js';
import type { SlowHostReport } from './slow-host.js';
import { ratio, round } from './stats.js';

/** The JSON written to bench/results, and the table printed at the end. */
export interface BenchReport {
  version: 1;
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  options: Record<string, unknown>;
  /** `--slow-host`: how the host was slowed on purpose for the measured phases */
  slowHost?: SlowHostReport;
  /** the embedded engine's server settings in the engine phases, as it reports them (clickhouse/client.ts) */
  engineSettings?: Record<string, string>;
  express?: ExpressCeiling;
  /** producer middleware overhead: median over runs of the added p50/p99 latency (ms) */
  middleware?: {
    runs: number;
    requests: number;
    addedP50Ms: number;
    addedP99Ms: number;
    /** the added p99 of the CPU used per request: what the middleware costs, without the host's waits for a core */
    addedOnCpuP99Ms: number;
    perRun: { addedP50Ms: number; addedP99Ms: number; addedOnCpuP99Ms: number }[];
  };
  engine?: EngineCeiling;
  endToEnd?: EndToEndResult;
  queueCap?: QueueCapResult;
  /** the same request logs through /v1/logs (JSON) and /otlp/v1/traces (OTLP protobuf spans) */
  otlp?: OtlpRateResult;
  queries?: QuerySuite[];
  /** bytes on disk per request log at each query-phase size, after the merges settled */
  disk?: DiskUsage[];
  soak?: SoakResult;
  /** set when a phase failed: the figures above are those of the phases that finished */
  error?: string;
  summary: SummaryRow[];
}

export interface SummaryRow {
  figure: string;
  value: number | string;
  unit: string;
  /** the value divided by its ceiling measured in the same run, where one exists */
  ratioToCeiling?: number;
  ceiling?: string;
  target?: string;
  /** true/false when a target exists; undefined otherwise */
  meetsTarget?: boolean;
}

export function summarise(r: Omit<BenchReport, 'summary'>): SummaryRow[] {
  const rows: SummaryRow[] = [{ figure: 'cores', value: r.machine.cores, unit: `(${r.machine.cpuModel})` }];
  // Issue 23's host-independent headline first: the pipeline's CPU per record against the engine's own.
  const perRecord = r.endToEnd?.atHalfRate.cpuMsPer1kRecords;
  const engineWithMerges = r.engine?.engineCpuMsPer1kWithMerges;
  if (perRecord && engineWithMerges) {
    const pipeline = perRecord.ingest + perRecord.worker + perRecord.redis;
    rows.push({
      figure: 'half rate: pipeline CPU per 1k records (ingest + worker + Redis) / engine CPU per 1k rows with its merges',
      value: round(pipeline / engineWithMerges),
      unit: `x (${round(pipeline)} / ${engineWithMerges} ms)`,
      target: '<= 2.5 x',
      meetsTarget: pipeline <= 2.5 * engineWithMerges,
    });
  }
  const e = r.express;
  if (e) {
    rows.push({ figure: 'Express trivial handler, tiny body', value: e.tinyBody.requestsPerSecond, unit: 'req/s', target: 'ceiling' });
    rows.push({ figure: `Express trivial handler, ${Math.round(e.batchBody.bytes / 1024)} KiB body`, value: e.batchBody.requestsPerSecond, unit: 'req/s', target: 'ceiling' });
    if (e.wrkTinyBodyRequestsPerSecond) rows.push({ figure: 'Express trivial handler, tiny body (wrk)', value: e.wrkTinyBodyRequestsPerSecond, unit: 'req/s' });
  }
  const mw = r.middleware;
  if (mw) {
    rows.push({ figure: `producer middleware added latency p50 (median of ${mw.runs} runs)`, value: mw.addedP50Ms, unit: 'ms' });
    rows.push({
      figure: `producer middleware added latency p99 (median of ${mw.runs} runs)`,
      value: mw.addedP99Ms,
      unit: 'ms',
      target: 'p99 < 0.2 ms',
      meetsTarget: mw.addedP99Ms < 0.2,
    });
    // the host's waits for a core left out (docs/performance.md (section 32))
    if (mw.addedOnCpuP99Ms !== undefined) rows.push({ figure: `producer middleware added CPU per request p99 (median of ${mw.runs} runs)`, value: mw.addedOnCpuP99Ms, unit: 'ms' });
  }
  const g = r.engine;
  if (g) {
    rows.push({ figure: `engine raw insert (${g.engineFormat}, ${g.blockRows}-row blocks)`, value: g.engineRowsPerSecond, unit: 'rows/s', target: 'ceiling' });
    for (const [format, rate] of Object.entries(g.engineRowsPerSecondByFormat ?? {})) {
      if (format !== g.engineFormat) rows.push({ figure: `engine raw insert (${format}, ${g.blockRows}-row blocks)`, value: rate, unit: 'rows/s', ratioToCeiling: ratio(rate, g.engineRowsPerSecond), ceiling: 'engine raw insert' });
    }
    rows.push({ figure: 'engine CPU per 1k rows at that rate', value: g.engineCpuMsPer1k, unit: 'ms' });
    if (g.engineCpuMsPer1kWithMerges !== undefined) {
      rows.push({
        figure: 'engine CPU per 1k rows with the merges it caused',
        value: g.engineCpuMsPer1kWithMerges,
        unit: `ms (waited ${g.mergeWait.seconds} s per run${g.mergeWait.settled ? '' : ', not settled'})`,
      });
    }
    if (g.smallBlocks) {
      rows.push({ figure: `engine raw insert (JSONCompactEachRow), ${g.smallBlocks.blockRows}-row blocks`, value: g.smallBlocks.rowsPerSecond, unit: 'rows/s', ratioToCeiling: ratio(g.smallBlocks.rowsPerSecond, g.engineRowsPerSecond), ceiling: 'engine raw insert' });
      rows.push({ figure: `engine CPU per 1k rows, ${g.smallBlocks.blockRows}-row blocks`, value: g.smallBlocks.cpuMsPer1k, unit: 'ms' });
    }
    rows.push({ figure: 'client insert of row objects (worker path before opt. 1)', value: g.clientObjectsRowsPerSecond, unit: 'rows/s', ratioToCeiling: ratio(g.clientObjectsRowsPerSecond, g.engineRowsPerSecond), ceiling: 'engine raw insert' });
    rows.push({ figure: 'worker insert path alone (ClickHouseWriter)', value: g.workerPathRowsPerSecond, unit: 'rows/s', ratioToCeiling: ratio(g.workerPathRowsPerSecond, g.engineRowsPerSecond), ceiling: 'engine raw insert' });
  }
  const x = r.endToEnd;
  if (x) {
    const h = x.atHalfRate;
    const engineRate = g?.engineRowsPerSecond ?? 0;
    rows.push({
      figure: 'end to end sustained (visible in ClickHouse)',
      value: x.sustainedRecordsPerSecond,
      unit: 'records/s',
      ...(engineRate ? { ratioToCeiling: ratio(x.sustainedRecordsPerSecond, engineRate), ceiling: 'engine raw insert', meetsTarget: x.sustainedRecordsPerSecond >= 0.5 * engineRate } : {}),
      target: '>= 0.5 x engine',
    });
    if (x.saturatedRecordsPerSecond !== undefined) rows.push({ figure: 'end to end when saturated (first step not kept up)', value: x.saturatedRecordsPerSecond, unit: 'records/s', ...(engineRate ? { ratioToCeiling: ratio(x.saturatedRecordsPerSecond, engineRate), ceiling: 'engine raw insert' } : {}) });
    const reqRate = round(h.requests / h.seconds);
    const merges = x.beforeHalfRate;
    rows.push({ figure: 'half rate: waited for the ramp\'s merges / warm-up', value: `${merges.waitedSeconds} s${merges.settled ? '' : ' (still merging)'} / ${h.warmupSeconds} s`, unit: '' });
    rows.push({ figure: 'half rate: offered / visible', value: `${h.offeredRecordsPerSecond} / ${h.visibleRecordsPerSecond}`, unit: 'records/s' });
    rows.push({ figure: 'half rate: requests', value: reqRate, unit: 'req/s', ...(e ? { ratioToCeiling: ratio(reqRate, e.batchBody.requestsPerSecond), ceiling: 'Express, batch body' } : {}) });
    rows.push({ figure: 'half rate: ingest latency p50', value: h.ingestLatencyMs.p50, unit: 'ms', ...(e ? { ratioToCeiling: ratio(h.ingestLatencyMs.p50, e.batchBody.p50Ms), ceiling: 'Express p50 (loaded)' } : {}) });
    const keyed = x.idempotencyKeys ? ', each request with an Idempotency-Key' : '';
    rows.push({ figure: `half rate: ingest latency p99${keyed}`, value: h.ingestLatencyMs.p99, unit: 'ms', target: '< 25 ms', meetsTarget: h.ingestLatencyMs.p99 < 25 });
    if (h.loadGeneratorLoopDelayMs) rows.push({ figure: "half rate: load generator's event-loop delay p99 / max", value: `${h.loadGeneratorLoopDelayMs.p99} / ${h.loadGeneratorLoopDelayMs.max}`, unit: 'ms' });
    if (h.freshnessMs) {
      rows.push({ figure: 'half rate: freshness (202 -> queryable) p50', value: h.freshnessMs.p50, unit: 'ms' });
      rows.push({ figure: 'half rate: freshness p99', value: h.freshnessMs.p99, unit: 'ms', target: '< 2000 ms', meetsTarget: h.freshnessMs.p99 < 2000 });
    }
    rows.push({ figure: 'half rate: CPU per 1k records ingest / worker / redis', value: `${h.cpuMsPer1kRecords.ingest} / ${h.cpuMsPer1kRecords.worker} / ${h.cpuMsPer1kRecords.redis}`, unit: 'ms' });
    rows.push({ figure: 'half rate: queue depth mean / max', value: `${h.queueDepthJobs.mean} / ${h.queueDepthJobs.max}`, unit: 'jobs' });
    rows.push({ figure: 'half rate: inserts', value: h.inserts.perSecond, unit: 'inserts/s' });
    rows.push({ figure: 'half rate: rows per insert', value: h.inserts.rowsPerInsert, unit: 'rows' });
    rows.push({ figure: 'half rate: peak RSS ingest / worker', value: `${h.peakRssMiB.ingest} / ${h.peakRssMiB.worker}`, unit: 'MiB' });
    const sustainedStep = x.sustainedStep !== undefined ? x.steps[x.sustainedStep] : undefined;
    if (sustainedStep) {
      rows.push({ figure: 'sustained rate: peak RSS worker', value: sustainedStep.peakRssMiB.worker, unit: 'MiB', target: '< 1024 MiB', meetsTarget: sustainedStep.peakRssMiB.worker < 1024 });
    }
    rows.push({ figure: 'peak RSS over the run (incl. saturation) ingest / worker', value: `${x.peakRssOverRunMiB.ingest} / ${x.peakRssOverRunMiB.worker}`, unit: 'MiB' });
    rows.push({ figure: 'half rate: Redis used memory max', value: h.redisUsedMemoryMiB.max, unit: 'MiB' });
  }
  const o = r.otlp;
  if (o) {
    const line = (x: OtlpRateResult['json']) => `${x.acceptedRecordsPerSecond} / ${x.visibleRecordsPerSecond}${x.rowsVisible === x.records ? '' : ` (${x.rowsVisible} of ${x.records} rows)`}`;
    rows.push({ figure: `JSON /v1/logs, ${o.json.records} records, ${o.maxInFlight} in flight: accepted / visible`, value: line(o.json), unit: 'records/s' });
    rows.push({
      figure: `OTLP /otlp/v1/traces (protobuf SERVER spans), same records: accepted / visible`,
      value: line(o.otlp),
      unit: 'records/s',
      ratioToCeiling: ratio(o.otlp.visibleRecordsPerSecond, o.json.visibleRecordsPerSecond),
      ceiling: 'JSON path, visible',
    });
    rows.push({ figure: 'ingest CPU per 1k records JSON / OTLP; mean body JSON / OTLP', value: `${o.json.ingestCpuMsPer1kRecords} / ${o.otlp.ingestCpuMsPer1kRecords}; ${o.json.meanBodyBytes} / ${o.otlp.meanBodyBytes}`, unit: 'ms; bytes' });
  }
  const c = r.queueCap;
  if (c) {
    rows.push({
      figure: `Redis with the worker paused until 429 (QUEUE_MAX_BYTES ${c.capBytesMiB} MiB)`,
      value: `${c.redisMaxMiB} (${c.acceptedRecords} records queued)`,
      unit: 'MiB',
      target: 'bounded by the cap',
      meetsTarget: c.backpressure429 > 0 && c.overshootMiB <= Math.max(24, 0.1 * c.capBytesMiB),
    });
    rows.push({ figure: 'that backlog drained by the worker alone', value: c.drainRecordsPerSecond, unit: `records/s${c.allLanded ? '' : ' (NOT all landed)'}`, ...(r.engine ? { ratioToCeiling: ratio(c.drainRecordsPerSecond, r.engine.engineRowsPerSecond), ceiling: 'engine raw insert' } : {}) });
  }
  for (const q of r.queries ?? []) {
    const over = q.queries.filter((t) => !t.name.startsWith('alert /') && t.p95Ms >= 150).length;
    const size = q.requestLogs >= 1e6 ? `${q.requestLogs / 1e6}M` : `${q.requestLogs / 1e3}k`;
    rows.push({ figure: `queries at ${size} logs: slowest dashboard p95 (${q.slowest.name})`, value: q.slowest.p95Ms, unit: 'ms', target: '< 150 ms at 10M', ...(q.requestLogs >= 1e7 ? { meetsTarget: q.slowest.p95Ms < 150 } : {}) });
    rows.push({ figure: `queries at ${size} logs: dashboard queries with p95 >= 150 ms`, value: `${over} of ${q.queries.filter((t) => !t.name.startsWith('alert /')).length}`, unit: '' });
    rows.push({ figure: `queries at ${size} logs: alert evaluation p95`, value: q.alertEvaluation.p95Ms, unit: 'ms', target: '< 100 ms', ...(q.requestLogs >= 1e7 ? { meetsTarget: q.alertEvaluation.p95Ms < 100 } : {}) });
  }
  for (const d of r.disk ?? []) rows.push(...diskRows(d));
  return rows;
}

/** Compressed column bytes per request log at one size: raw tables, their projections, rollups. */
function diskRows(d: DiskUsage): SummaryRow[] {
  const size = d.requestLogs >= 1e6 ? `${d.requestLogs / 1e6}M` : `${d.requestLogs / 1e3}k`;
  const sum = (f: (t: DiskUsage['tables'][number]) => boolean) => round(d.tables.filter(f).reduce((n, t) => n + t.compressedBytesPerLog, 0));
  return [
    { figure: `disk at ${size} logs: raw / projections / rollups per request log (compressed)`, value: `${sum((t) => t.kind === 'raw' && !t.projection)} / ${sum((t) => Boolean(t.projection))} / ${sum((t) => t.kind === 'rollup')}`, unit: 'bytes' },
    { figure: `disk at ${size} logs: all tables per request log, compressed / on disk`, value: `${d.total.compressedBytesPerLog} / ${d.total.bytesOnDiskPerLog}`, unit: 'bytes' },
  ];
}

export function formatSummary(report: BenchReport): string {
  const header = ['figure', 'value', 'unit', 'ratio to ceiling', 'target', 'met'];
  const lines = report.summary.map((s) => [
    s.figure,
    String(s.value),
    s.unit,
    s.ratioToCeiling !== undefined ? `${s.ratioToCeiling} (${s.ceiling})` : '',
    s.target ?? '',
    s.meetsTarget === undefined ? '' : s.meetsTarget ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const m = report.machine;
  return [
    `Benchmark (${report.mode}) ${report.startedAt}: ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; load average ${m.loadAverageAtStart} at start, ${m.loadAverageAtEnd} at end`,
    ...(report.slowHost ? [`SLOWED HOST (--slow-host=${report.slowHost.spec}): ${report.slowHost.detail}${slowHostEffect(report.slowHost)}`] : []),
    fmt(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...lines.map(fmt),
    ...(report.error ? [`INCOMPLETE: a phase failed: ${report.error}`] : []),
  ].join('\n');
}

function slowHostEffect(s: SlowHostReport): string {
  if (s.loadCpuSeconds !== undefined) return `; the load took ${s.loadCpuSeconds} CPU s`;
  if (s.throttled) return `; throttled in ${s.throttled.throttledPeriods} of ${s.throttled.periods} periods, ${s.throttled.throttledSeconds} s in all`;
  return '';
}

export function formatQueries(suites: QuerySuite[]): string {
  const out: string[] = [];
  for (const [i, s] of suites.entries()) {
    // growth: this size's p95 and rows read over the previous size's (what a 10x bigger table costs)
    const before = new Map((suites[i - 1]?.queries ?? []).map((q) => [q.name, q]));
    const growth = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(1)}x` : '');
    out.push(`\nQueries at ${s.requestLogs} request logs (${s.repetitions} runs each, after one warm-up${s.generation ? `; generating its ${s.generation.requestLogsAdded} new logs took ${s.generation.seconds} s, merging ${s.merges?.waitedSeconds ?? '?'} s${s.forcedMerge ? `, then ${s.forcedMerge.waitedSeconds} s for the forced merges${s.forcedMerge.merged ? '' : ' (not done)'}` : ''}` : ''}): p50 / p95 ms, rows, rows read${i ? `, growth of p95 and rows read over ${suites[i - 1]!.requestLogs}` : ''}`);
    for (const q of s.queries) {
      const b = before.get(q.name);
      const cells = [q.p50Ms, q.p95Ms, q.rows, q.readRows ?? '', growth(q.p95Ms, b?.p95Ms), growth(q.readRows ?? 0, b?.readRows)];
      out.push(`  ${cells.map((c, j) => String(c).padStart([8, 8, 6, 10, 7, 7][j]!)).join(' ')}  ${q.name}`);
    }
  }
  return out.join('\n');
}
