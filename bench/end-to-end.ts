import { randomBytes } from 'node:crypto';
import { paced } from './http-load.js';
import { encodeRequest, RawHttpClient } from './raw-http.js';
import { loadAverageNow, processCpuSeconds, processMemoryMiB } from './machine.js';
import type { BenchOptions } from './options.js';
import type { RunningPipeline } from './pipeline-processes.js';
import type { Progress } from './progress.js';
import { waitForMerges } from './query-data.js';
import { percentile, round } from './stats.js';
import { kindNames, recordKinds } from '../schema/records.js';
import type { RequestBody, TrafficPool } from './traffic-pool.js';
import { parseServerTiming } from '../ingest/request-timing.js';

/**
 * How late a 20 ms timer fires in the load generator: the delay its own event loop adds to the
 * latencies it measures. Sampled at 50 Hz rather than with monitorEventLoopDelay's 1 ms timer,
 * whose thousand wake-ups a second cost the shared cores more than the sampling is worth.
 */
function loopLateness() {
  const samples: number[] = [];
  const period = 20;
  let expected = performance.now() + period;
  const timer = setInterval(() => {
    const now = performance.now();
    samples.push(Math.max(0, now - expected));
    expected = now + period;
  }, period);
  return { samples, stop: () => clearInterval(timer) };
}

/**
 * One step of the end-to-end phase: the pool's bodies posted through the real API at a fixed
 * records/s for a while, then what became visible in ClickHouse and how long it took.
 */
export interface StepResult {
  offeredRecordsPerSecond: number;
  /** the measured part of the step; a warm-up before it is sent at the same rate but not counted */
  seconds: number;
  warmupSeconds: number;
  requests: number;
  acceptedRecordsPerSecond: number;
  /** rows whose insert (ingested_at) fell in the step, per second: what the pipeline delivered */
  visibleRecordsPerSecond: number;
  rejectedRequests: { backpressure429: number; other: number; network: number };
  loadGeneratorBehind: boolean;
  keptUp: boolean;
  whyNot?: string;
  ingestLatencyMs: { p50: number; p99: number; max: number };
  /**
   * How late the load generator's own event loop ran (GC, its own work) during the step: a
   * response that arrives during such a pause is timed late, so this bounds the measurement error.
   */
  loadGeneratorLoopDelayMs: { p99: number; max: number };
  freshnessMs?: { p50: number; p99: number; max: number; batches: number };
  queueDepthJobs: { mean: number; max: number; atEnd: number };
  drainSeconds: number;
  inserts: { perSecond: number; rowsPerInsert: number; byTable: Record<string, { inserts: number; rows: number }> };
  peakRssMiB: { ingest: number; worker: number };
  redisUsedMemoryMiB: { max: number; atEnd: number };
  /** CPU used during the step (sending phase), in cores: 1 = one core busy all the time */
  cpuCores: { ingest: number; worker: number; redis: number; loadGenerator: number; machineLoadAverage: number };
  /** CPU milliseconds per 1,000 records: less sensitive to other load on the machine than rates are */
  cpuMsPer1kRecords: { ingest: number; worker: number; redis: number };
  /** Redis's own stalls of 5 ms or more in the measured window (LATENCY HISTORY): seconds with one, the longest */
  redisStalls?: Record<string, { seconds: number; maxMs: number }>;
  /**
   * Ingest's own split of each accepted request (its Server-Timing header, ingest/request-timing.ts):
   * p50/p99 per stage over all requests, and the mean per stage over the slowest 1% by client
   * latency. `outside` = client latency - ingest's total: before the handler saw the request
   * (sockets, ingest's event loop busy with other requests) and the response's way back.
   */
  ingestStagesMs?: IngestStages;
}

export interface IngestStages {
  byStage: Record<string, { p50: number; p99: number }>;
  slowest1pct: { requests: number; fromLatencyMs: number; meanMs: Record<string, number> };
}

/** Per-stage figures from the accepted requests' Server-Timing splits. */
export function ingestStages(requests: { latency: number; stages: Record<string, number> }[]): IngestStages | undefined {
  const timed = requests.filter((r) => r.stages.total !== undefined).map((r) => ({ ...r, stages: { ...r.stages, outside: Math.max(0, r.latency - r.stages.total!) } as Record<string, number> }));
  if (timed.length === 0) return undefined;
  const names = [...new Set(timed.flatMap((r) => Object.keys(r.stages)))];
  // a stage a request did not have (a cached limits reading, no idempotency key) counts as 0 ms
  const of = (rs: typeof timed, n: string) => rs.map((r) => r.stages[n] ?? 0);
  const byStage = Object.fromEntries(names.map((n) => [n, { p50: round(percentile(of(timed, n), 50)), p99: round(percentile(of(timed, n), 99)) }]));
  const slow = [...timed].sort((a, b) => b.latency - a.latency).slice(0, Math.ceil(timed.length / 100));
  const fromLatencyMs = slow[slow.length - 1]!.latency;
  const meanMs = Object.fromEntries(names.map((n) => [n, round(of(slow, n).reduce((a, b) => a + b, 0) / slow.length)]));
  return { byStage, slowest1pct: { requests: slow.length, fromLatencyMs: round(fromLatencyMs), meanMs } };
}

const TABLES = kindNames.map((k) => recordKinds[k].table);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sent {
  sentAt: number;
  doneAt: number;
  status: number;
  records: number;
  batchId?: string;
  serverTiming?: string;
}

/** Idempotency-Key length in --idempotency-keys runs: a random run prefix and a counter. */
const KEY_LENGTH = 32;

export async function runStep(o: {
  pipeline: RunningPipeline;
  pool: TrafficPool;
  recordsPerSecond: number;
  durationMs: number;
  maxInFlight: number;
  drainTimeoutMs: number;
  measureFreshness: boolean;
  progress: Progress;
  label: string;
  /**
   * sent at the same rate before the measured `durationMs`, and left out of the latencies, freshness,
   * CPU and rates (the queue-depth, RSS and Redis-memory samplers run through it)
   */
  warmupMs?: number;
  /** each request with its own Idempotency-Key, as the producer SDK sends (`--idempotency-keys`) */
  idempotencyKeys?: boolean;
}): Promise<StepResult> {
  const warmupMs = o.warmupMs ?? 0;
  const p = o.pipeline;
  // Fresh keep-alive sockets per step: ingest closes idle ones (keepAliveTimeout) while a step drains,
  // and reusing one being closed would show up as a network error that is the load generator's, not ingest's.
  const base = new URL(p.ingestUrl);
  const client = new RawHttpClient(base.hostname, Number(base.port));
  let cursor = Math.floor(Math.random() * o.pool.bodies.length);
  const sent: Sent[] = [];
  let network = 0;
  // A key of fixed length, so each request's own key is written over it in a copy of the encoded request.
  const keyHolder = 'k'.repeat(KEY_LENGTH);
  const headers: Record<string, string> = { Authorization: `Bearer ${p.apiKey}`, ...(o.idempotencyKeys ? { 'Idempotency-Key': keyHolder } : {}) };
  // each body's whole request, encoded once (the pool cycles through the same bodies)
  const requests = new Map<RequestBody, Buffer>();
  const encodedOf = (body: RequestBody) => {
    let r = requests.get(body);
    if (!r) requests.set(body, (r = encodeRequest(new URL(body.path, p.ingestUrl), body.body, headers)));
    return r;
  };
  const keyPrefix = randomBytes(8).toString('hex');
  let keys = 0;
  const requestOf = (body: RequestBody) => {
    const encoded = encodedOf(body);
    if (!o.idempotencyKeys) return encoded;
    const r = Buffer.from(encoded);
    r.write(`${keyPrefix}${String(keys++).padStart(KEY_LENGTH - keyPrefix.length, '0')}`, r.indexOf(`Idempotency-Key: ${keyHolder}`) + 17, 'latin1');
    return r;
  };

  // Samplers: queue depth, RSS, Redis memory every 250 ms while the step runs.
  const depths: number[] = [];
  const redisUsed: number[] = [];
  let rssIngest = 0;
  let rssWorker = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      depths.push(await p.queueDepth());
      redisUsed.push((await p.redisMemoryBytes()).used);
      rssIngest = Math.max(rssIngest, processMemoryMiB(p.ingest.pid!)?.rss ?? 0);
      rssWorker = Math.max(rssWorker, processMemoryMiB(p.worker.pid!)?.rss ?? 0);
      await sleep(250);
    }
  })();

  const pids = { ingest: p.ingest.pid!, worker: p.worker.pid!, redis: p.redis.process.pid! };
  const cpuSnapshot = () => ({ ingest: processCpuSeconds(pids.ingest), worker: processCpuSeconds(pids.worker), redis: processCpuSeconds(pids.redis), self: process.cpuUsage() });
  let cpuBefore = cpuSnapshot();
  await p.redisStalls(); // reset: only the step's own
  let loopDelay = loopLateness();
  // The measured window starts after the warm-up: CPU and loop lateness are taken afresh then.
  const startedAt = Date.now() + warmupMs;
  const warmupTimer = warmupMs
    ? setTimeout(() => {
        cpuBefore = cpuSnapshot();
        void p.redisStalls();
        loopDelay.stop();
        loopDelay = loopLateness();
      }, warmupMs)
    : undefined;
  const run = await paced<RequestBody>({
    next: () => {
      const body = o.pool.bodies[cursor++ % o.pool.bodies.length]!;
      return { item: body, records: body.records };
    },
    send: async (body) => {
      try {
        const r = await client.post(requestOf(body));
        const s: Sent = { sentAt: r.sentAt, doneAt: r.doneAt, status: r.status, records: body.records, ...(r.serverTiming ? { serverTiming: r.serverTiming } : {}) };
        if (r.status === 202) s.batchId = (JSON.parse(r.body) as { batch_id: string }).batch_id;
        sent.push(s);
      } catch {
        network++;
      }
    },
    recordsPerSecond: o.recordsPerSecond,
    durationMs: warmupMs + o.durationMs,
    maxInFlight: o.maxInFlight,
    onTick: (records, inFlight) =>
      o.progress.update(`${o.label}: ${Math.round(o.recordsPerSecond)} records/s offered, ${records} sent, ${inFlight} in flight, queue ${depths[depths.length - 1] ?? 0} jobs`),
  });
  const endedAt = Date.now();
  clearTimeout(warmupTimer);
  const redisStalls = await p.redisStalls();
  loopDelay.stop();
  const busy = (pid: number, before: number) => round((processCpuSeconds(pid) - before) / ((endedAt - startedAt) / 1000));
  const self = process.cpuUsage(cpuBefore.self);
  const cpuCores = {
    ingest: busy(pids.ingest, cpuBefore.ingest),
    worker: busy(pids.worker, cpuBefore.worker),
    redis: busy(pids.redis, cpuBefore.redis),
    loadGenerator: round((self.user + self.system) / 1e3 / (endedAt - startedAt)),
    machineLoadAverage: loadAverageNow(),
  };
  sampling = false;
  await sampler;
  const depthAtEnd = await p.queueDepth();
  client.close();

  // Drain: everything accepted must land before the next step.
  const drainStart = Date.now();
  while ((await p.queueDepth()) > 0 && Date.now() - drainStart < o.drainTimeoutMs) {
    o.progress.update(`${o.label}: draining, ${await p.queueDepth()} jobs queued`);
    await sleep(200);
  }
  const drained = (await p.queueDepth()) === 0;
  const drainSeconds = (Date.now() - drainStart) / 1000;
  await sleep(300); // the last insert of the drain commits

  const measured = sent.filter((s) => s.sentAt >= startedAt);
  const accepted = measured.filter((s) => s.status === 202);
  const acceptedRecords = accepted.reduce((n, s) => n + s.records, 0);
  const seconds = (endedAt - startedAt) / 1000;
  // Visible rate: inserts in the measured window, less its first second unless a warm-up filled the pipe.
  const windowFrom = startedAt + (warmupMs ? 0 : Math.min(1000, o.durationMs / 4));
  const byTable: Record<string, { inserts: number; rows: number }> = {};
  for (const t of TABLES) {
    const [row] = await rows<{ rows: string; inserts: string }>(
      p,
      `SELECT count() AS rows, uniqExact(ingested_at) AS inserts FROM ${p.config.CLICKHOUSE_DATABASE}.${t}
       WHERE ingested_at >= fromUnixTimestamp64Milli(${windowFrom}) AND ingested_at < fromUnixTimestamp64Milli(${endedAt})`,
    );
    byTable[t] = { rows: Number(row?.rows ?? 0), inserts: Number(row?.inserts ?? 0) };
  }
  const windowS = (endedAt - windowFrom) / 1000;
  const visibleRows = Object.values(byTable).reduce((n, t) => n + t.rows, 0);
  const insertCount = Object.values(byTable).reduce((n, t) => n + t.inserts, 0);

  let freshnessMs: StepResult['freshnessMs'];
  if (o.measureFreshness && accepted.length > 0) freshnessMs = await freshness(p, accepted, startedAt);

  const latencies = accepted.map((s) => s.doneAt - s.sentAt);
  const ingestStagesMs = ingestStages(accepted.map((s) => ({ latency: s.doneAt - s.sentAt, stages: parseServerTiming(s.serverTiming) })));
  const acceptedRate = acceptedRecords / seconds;
  const visibleRate = visibleRows / windowS;
  const backpressure429 = measured.filter((s) => s.status === 429).length;
  const other = measured.filter((s) => s.status !== 202 && s.status !== 429).length;
  const meanRecordsPerJob = acceptedRecords / Math.max(1, accepted.length);
  const reasons: string[] = [];
  if (backpressure429 + other + network > 0) reasons.push(`${backpressure429} x 429, ${other} other errors, ${network} network errors`);
  if (run.behindSchedule) reasons.push('the load generator hit its in-flight cap (ingest too slow to answer)');
  if (acceptedRate < 0.95 * o.recordsPerSecond) reasons.push(`accepted ${Math.round(acceptedRate)} of ${Math.round(o.recordsPerSecond)} records/s offered`);
  if (visibleRate < 0.9 * acceptedRate) reasons.push(`visible ${Math.round(visibleRate)} records/s < 90% of accepted`);
  if (depthAtEnd * meanRecordsPerJob > 2 * acceptedRate) reasons.push(`backlog of ${depthAtEnd} jobs at the end (over 2 s of traffic)`);
  if (!drained) reasons.push('did not drain in time');

  return {
    offeredRecordsPerSecond: round(o.recordsPerSecond),
    seconds: round(seconds),
    warmupSeconds: warmupMs / 1000,
    requests: measured.length + network,
    acceptedRecordsPerSecond: round(acceptedRate),
    visibleRecordsPerSecond: round(visibleRate),
    rejectedRequests: { backpressure429, other, network },
    loadGeneratorBehind: run.behindSchedule,
    keptUp: reasons.length === 0,
    ...(reasons.length ? { whyNot: reasons.join('; ') } : {}),
    ingestLatencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(percentile(latencies, 100)) },
    loadGeneratorLoopDelayMs: { p99: round(percentile(loopDelay.samples, 99)), max: round(percentile(loopDelay.samples, 100)) },
    ...(freshnessMs ? { freshnessMs } : {}),
    queueDepthJobs: { mean: round(depths.reduce((a, b) => a + b, 0) / Math.max(1, depths.length)), max: Math.max(0, ...depths), atEnd: depthAtEnd },
    drainSeconds: round(drainSeconds),
    inserts: { perSecond: round(insertCount / windowS), rowsPerInsert: round(visibleRows / Math.max(1, insertCount)), byTable },
    peakRssMiB: { ingest: round(rssIngest), worker: round(rssWorker) },
    cpuCores,
    cpuMsPer1kRecords: {
      ingest: round((cpuCores.ingest * 1e6) / Math.max(1, acceptedRate)),
      worker: round((cpuCores.worker * 1e6) / Math.max(1, visibleRate)),
      redis: round((cpuCores.redis * 1e6) / Math.max(1, acceptedRate)),
    },
    redisStalls,
    ...(ingestStagesMs ? { ingestStagesMs } : {}),
    redisUsedMemoryMiB: { max: round(Math.max(0, ...redisUsed) / 2 ** 20), atEnd: round((redisUsed[redisUsed.length - 1] ?? 0) / 2 ** 20) },
  };
}

/** A ramp step's progress line: its rate offered and visible, and whether it kept up. */
const stepLine = (label: string, step: StepResult) =>
  `${label}: offered ${step.offeredRecordsPerSecond}/s, visible ${step.visibleRecordsPerSecond}/s, ${step.keptUp ? 'kept up' : `did not keep up (${step.whyNot})`}`;

/** What a kept step delivered: its visible rate, never more than it accepted (the previous step's backlog can drain into it). */
const delivered = (s: StepResult) => Math.min(s.visibleRecordsPerSecond, s.acceptedRecordsPerSecond);

async function rows<T>(p: RunningPipeline, query: string): Promise<T[]> {
  return (await p.clickhouse.query({ query, format: 'JSONEachRow' })).json<T>();
}

/**
 * 202 -> queryable, per batch: when the batch's rows were inserted (ingested_at, set by the engine
 * as it writes the block) minus when the client had its 202. Same clock (one machine). A batch
 * written before its 202 reached the client counts as 0.
 */
async function freshness(p: RunningPipeline, accepted: Sent[], since: number): Promise<NonNullable<StepResult['freshnessMs']>> {
  const union = TABLES.map(
    (t) => `SELECT batch_id, ingested_at FROM ${p.config.CLICKHOUSE_DATABASE}.${t} WHERE ingested_at >= fromUnixTimestamp64Milli(${since})`,
  ).join(' UNION ALL ');
  const landed = new Map(
    (await rows<{ batch_id: string; at: string }>(p, `SELECT batch_id, toUnixTimestamp64Milli(max(ingested_at)) AS at FROM (${union}) GROUP BY batch_id`)).map(
      (r) => [r.batch_id, Number(r.at)],
    ),
  );
  const ages: number[] = [];
  let missing = 0;
  for (const s of accepted) {
    const at = landed.get(s.batchId!);
    if (at === undefined) missing++;
    else ages.push(Math.max(0, at - s.doneAt));
  }
  if (missing > 0) throw new Error(`${missing} accepted batches are not in ClickHouse after the drain`);
  return { p50: round(percentile(ages, 50)), p99: round(percentile(ages, 99)), max: round(percentile(ages, 100)), batches: ages.length };
}

export interface EndToEndResult {
  batchSize: number;
  /** whether each request carried its own Idempotency-Key (`--idempotency-keys`; absent in older reports) */
  idempotencyKeys?: boolean;
  maxInFlight: number;
  steps: StepResult[];
  /** the highest rate a step kept up with: its visible rate, capped at its accepted rate */
  sustainedRecordsPerSecond: number;
  /** the index in `steps` of that step (absent with --rate) */
  sustainedStep?: number;
  /** the visible rate of the ramp's first step that did not keep up (the pipeline's saturated throughput) */
  saturatedRecordsPerSecond?: number;
  atHalfRate: StepResult;
  /** before the half-rate step: how long the engine took to finish the merges the ramp left behind */
  beforeHalfRate: Awaited<ReturnType<typeof waitForMerges>>;
  peakRssOverRunMiB: { ingest: number; worker: number };
}

export async function runEndToEnd(
  o: BenchOptions['e2e'] & { pipeline: RunningPipeline; pool: TrafficPool; batchSize: number; progress: Progress },
): Promise<EndToEndResult> {
  const steps: StepResult[] = [];
  let rate = o.startRecordsPerSecond;
  for (let i = 0; i < (o.fixedRecordsPerSecond ? 0 : o.maxSteps); i++) {
    const step = await runStep({ ...o, recordsPerSecond: rate, durationMs: o.stepMs, measureFreshness: false, label: `end to end, step ${i + 1} at ${Math.round(rate)}/s` });
    steps.push(step);
    o.progress.done(stepLine(`step ${i + 1}`, step));
    if (!step.keptUp) break;
    rate *= o.growth;
  }
  const failed = steps.find((s) => !s.keptUp);
  // The ramp's steps are `growth` apart, so the limit lies anywhere between the last step that kept
  // up and the first that did not: bisect (geometrically) to narrow it.
  let lo = steps.filter((s) => s.keptUp).at(-1)?.offeredRecordsPerSecond;
  let hi = failed?.offeredRecordsPerSecond;
  for (let i = 0; lo !== undefined && hi !== undefined && i < o.refineSteps; i++) {
    const mid = Math.sqrt(lo * hi);
    const step = await runStep({ ...o, recordsPerSecond: mid, durationMs: o.stepMs, measureFreshness: false, label: `end to end, refining at ${Math.round(mid)}/s` });
    steps.push(step);
    o.progress.done(stepLine(`refine ${i + 1}`, step));
    if (step.keptUp) lo = mid;
    else hi = mid;
  }
  // A kept step may still have fallen behind a little (visible under accepted, within the 2 s of
  // backlog it may end with): what it delivered is the pipeline's rate under that slight overload.
  // One more step offered exactly that rate shows whether the pipeline delivers all of it.
  const best = (list: StepResult[]) => list.reduce<StepResult | undefined>((a, s) => (a && delivered(a) >= delivered(s) ? a : s), undefined);
  const bestKept = best(steps.filter((s) => s.keptUp));
  if (!o.fixedRecordsPerSecond && bestKept && bestKept.visibleRecordsPerSecond < 0.97 * bestKept.acceptedRecordsPerSecond) {
    const rate = bestKept.visibleRecordsPerSecond;
    const step = await runStep({ ...o, recordsPerSecond: rate, durationMs: o.stepMs, measureFreshness: false, label: `end to end, confirming at ${Math.round(rate)}/s` });
    steps.push(step);
    o.progress.done(stepLine('confirm', step));
  }
  const sustainedStep = best(steps.filter((s) => s.keptUp));
  const sustained = o.fixedRecordsPerSecond ? 2 * o.fixedRecordsPerSecond : sustainedStep ? delivered(sustainedStep) : (failed?.visibleRecordsPerSecond ?? 0);

  // Half rate is a steady state: measured once the engine has merged what the ramp's overload left
  // behind, and after a warm-up at that rate (JIT, sockets, the first flushes).
  const beforeHalfRate = await waitForMerges({ client: o.pipeline.clickhouse, database: o.pipeline.config.CLICKHOUSE_DATABASE, timeoutMs: o.settleTimeoutMs, progress: o.progress });
  const atHalfRate = await runStep({
    ...o,
    recordsPerSecond: sustained / 2,
    durationMs: o.halfRateMs,
    warmupMs: o.halfRateWarmupMs,
    measureFreshness: true,
    label: 'end to end at half the sustained rate',
  });
  o.progress.done(`half rate: ${atHalfRate.acceptedRecordsPerSecond}/s, ingest p99 ${atHalfRate.ingestLatencyMs.p99} ms, freshness p99 ${atHalfRate.freshnessMs?.p99} ms`);

  const hwm = (pid: number) => round(processMemoryMiB(pid)?.peak ?? Number.NaN);
  return {
    batchSize: o.batchSize,
    idempotencyKeys: o.idempotencyKeys ?? false,
    maxInFlight: o.maxInFlight,
    steps,
    sustainedRecordsPerSecond: round(sustained),
    ...(sustainedStep && !o.fixedRecordsPerSecond ? { sustainedStep: steps.indexOf(sustainedStep) } : {}),
    ...(failed ? { saturatedRecordsPerSecond: failed.visibleRecordsPerSecond } : {}),
    atHalfRate,
    beforeHalfRate,
    peakRssOverRunMiB: { ingest: hwm(o.pipeline.ingest.pid!), worker: hwm(o.pipeline.worker.pid!) },
  };
}
