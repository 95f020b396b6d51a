import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/env.js';
import { repoRoot } from './child-process.js';
import { measureEngineCeiling } from './engine-ceiling.js';
import { openEngine } from './engine.js';
import { runEndToEnd } from './end-to-end.js';
import { formatSoak, runSoak } from './soak.js';
import { measureQueueCap } from './queue-cap.js';
import { measureOtlpRate } from './otlp-rate.js';
import { measureExpressCeiling } from './express-ceiling.js';
import { loadAverageNow, machineInfo } from './machine.js';
import { parseOptions } from './options.js';
import { startPipeline } from './pipeline-processes.js';
import { Progress } from './progress.js';
import { entityOf, generateQueryData, requestIdOf, waitForForcedMerges, waitForMerges } from './query-data.js';
import { runQuerySuite } from './query-bench.js';
import { formatDiskUsage, measureDiskUsage } from './disk-usage.js';
import { formatQueries, formatSummary, summarise, type BenchReport } from './report.js';
import { chartsDirOf, writeCharts } from './charts.js';
import { buildTrafficPool } from './traffic-pool.js';
import { startSlowHost, type SlowHost } from './slow-host.js';
import { measureMiddlewareOverhead } from '../producer/bench.js';

/**
 * `npm run bench [-- --quick] [--only=express,e2e,engine,queries] [--profile] [--env K=V] [--sizes=1000000,10000000]`
 * [--redis-appendfsync=everysec] (to measure what `always` costs); [--idempotency-keys] (each request with its own Idempotency-Key, as the producer SDK sends); [--slow-host[=load:N|quota:F]] (a host slowed on purpose); `--only=soak [--soak-minutes=10] [--rate=N]` (never by default)
 * Phases: the Express ceiling, the end-to-end pipeline (its own processes), the engine's raw
 * insert ceiling, then the dashboard and alert queries. The engine phases run last because this
 * process can open only one engine and the end-to-end worker must not share the cores with it.
 */
async function main() {
  const options = parseOptions(process.argv.slice(2));
  const progress = new Progress();
  const machine = machineInfo();
  const startedAt = new Date().toISOString();
  const work = mkdtempSync(join(tmpdir(), 'obs-bench-'));
  const outDir = options.outDir ?? join(repoRoot, 'bench', 'results');
  const stamp = startedAt.replace(/[:.]/g, '-');
  const partial: Omit<BenchReport, 'summary'> = {
    version: 1,
    mode: options.mode,
    startedAt,
    finishedAt: '',
    machine,
    options: { ...options, phases: [...options.phases] },
  };
  let failure: Error | undefined;
  let slowHost: SlowHost | undefined;
  try {
    progress.start('traffic pool', `${options.poolLogs} request logs and what they cause`);
    const pool = buildTrafficPool({ logs: options.poolLogs, batchSize: options.batchSize });
    progress.done(`traffic pool: ${pool.records} records in ${pool.bodies.length} bodies, ${pool.meanBodyBytes} bytes each on average`);

    if (options.slowHost) {
      // every measured phase runs on the slowed host; the load ends itself after 3 h at the latest
      slowHost = await startSlowHost(options.slowHost, { maxMs: 3 * 3600_000 });
      partial.slowHost = slowHost.report;
      progress.done(`slowed host: --slow-host=${slowHost.report.spec}: ${slowHost.report.detail}`);
    }

    if (options.phases.has('express')) {
      progress.start('Express ceiling');
      const batchBody = pool.bodies.find((b) => b.kind === 'logs' && b.records === options.batchSize)!.body;
      partial.express = await measureExpressCeiling({ ...options.express, batchBody, progress });
      progress.done(`Express ceiling: ${partial.express.tinyBody.requestsPerSecond} req/s (tiny body), ${partial.express.batchBody.requestsPerSecond} req/s (batch body)`);
    }

    if (options.phases.has('middleware')) {
      const perRun: { addedP50Ms: number; addedP99Ms: number; addedOnCpuP99Ms: number }[] = [];
      for (let i = 0; i < options.middleware.runs; i++) {
        progress.start('producer middleware overhead', `run ${i + 1} of ${options.middleware.runs}`);
        const r = await measureMiddlewareOverhead({ requests: options.middleware.requests });
        perRun.push({ addedP50Ms: r.added.p50, addedP99Ms: r.added.p99, addedOnCpuP99Ms: r.addedOnCpu.p99 });
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      partial.middleware = {
        ...options.middleware,
        addedP50Ms: median(perRun.map((r) => r.addedP50Ms)),
        addedP99Ms: median(perRun.map((r) => r.addedP99Ms)),
        addedOnCpuP99Ms: median(perRun.map((r) => r.addedOnCpuP99Ms)),
        perRun,
      };
      progress.done(`producer middleware: +${partial.middleware.addedP50Ms} ms p50, +${partial.middleware.addedP99Ms} ms p99 per request (on CPU +${partial.middleware.addedOnCpuP99Ms} ms p99)`);
    }

    if (options.phases.has('e2e')) {
      progress.start('end to end', 'starting redis-server, ingest and worker');
      const profileDir = options.profile ? join(outDir, `profiles-${stamp}`) : undefined;
      if (profileDir) mkdirSync(profileDir, { recursive: true });
      // quick: a small byte cap, so the queue-cap phase fills it in seconds
      const env = { ...(options.mode === 'quick' ? { QUEUE_MAX_BYTES: String(64 * 2 ** 20) } : {}), ...options.pipelineEnv };
      const pipeline = await startPipeline({ dir: join(work, 'pipeline'), env, cpuProfileDir: profileDir, redisAppendfsync: options.redisAppendfsync });
      try {
        partial.endToEnd = await runEndToEnd({ pipeline, pool, batchSize: options.batchSize, ...options.e2e, progress });
        progress.start('OTLP path', 'the same request logs as JSON and as OTLP spans');
        partial.otlp = await measureOtlpRate({ pipeline, pool, records: options.mode === 'quick' ? 10_000 : 100_000, maxInFlight: 16, progress });
        progress.done(`OTLP path: ${partial.otlp.otlp.visibleRecordsPerSecond} spans/s visible, JSON path ${partial.otlp.json.visibleRecordsPerSecond} records/s`);
        if (!options.e2e.fixedRecordsPerSecond) {
          progress.start('queue cap', 'pausing the worker');
          const c = await measureQueueCap({ pipeline, pool, maxInFlight: 16, timeoutMs: options.e2e.drainTimeoutMs, progress });
          partial.queueCap = c;
          progress.done(`queue cap: Redis ${c.redisMaxMiB} MiB at most with QUEUE_MAX_BYTES ${c.capBytesMiB} MiB; backlog of ${c.acceptedRecords} records drained at ${c.drainRecordsPerSecond}/s`);
        }
      } finally {
        progress.start('end to end', 'stopping the pipeline');
        await pipeline.stop();
      }
      if (profileDir) progress.done(`CPU profiles of ingest and worker in ${profileDir} (summarise: npx tsx bench/profile-summary.ts ${profileDir})`);
    }

    if (options.phases.has('soak')) {
      progress.start('soak', `starting the pipeline for ${options.soak.minutes} minutes at ${options.soak.recordsPerSecond} records/s`);
      const pipeline = await startPipeline({ dir: join(work, 'soak'), env: options.pipelineEnv, redisAppendfsync: options.redisAppendfsync });
      try {
        partial.soak = await runSoak({ ...options.soak, pipeline, pool, progress });
      } finally {
        progress.start('soak', 'stopping the pipeline');
        await pipeline.stop();
      }
    }

    if (options.phases.has('engine') || options.phases.has('queries')) {
      // the same engine settings as the end-to-end worker's (--env CLICKHOUSE_ENGINE_SETTINGS=...): a fair ratio
      const engine = openEngine(join(work, 'engine'), loadConfig({ CLICKHOUSE_ENGINE_SETTINGS: options.pipelineEnv.CLICKHOUSE_ENGINE_SETTINGS }).CLICKHOUSE_ENGINE_SETTINGS);
      partial.engineSettings = engine.settings;
      try {
        if (options.phases.has('engine')) {
          progress.start('engine ceiling');
          partial.engine = await measureEngineCeiling({ engine, database: 'ceiling', rowsByTable: pool.rowsByTable(), ...options.engine, progress });
          progress.done(`engine ceiling: ${partial.engine.engineRowsPerSecond} rows/s raw, ${partial.engine.workerPathRowsPerSecond} rows/s through the worker's insert path`);
        }
        if (options.phases.has('queries')) {
          const database = 'observability';
          await engine.migrate(database);
          const nowMs = Date.now();
          partial.queries = [];
          let existing = 0;
          for (const size of options.queries.sizes) {
            progress.start(`queries at ${size} request logs`, 'generating data');
            const generationStarted = performance.now();
            await generateQueryData({ client: engine.client, database, requestLogs: size, existing, nowMs, days: 8, progress });
            const generation = { seconds: Math.round((performance.now() - generationStarted) / 1000), requestLogsAdded: size - existing };
            existing = size;
            // a bigger data set leaves bigger merges behind: up to 10 min at 100M
            const merges = await waitForMerges({ client: engine.client, database, timeoutMs: Math.max(180_000, (size / 1_000_000) * 6_000), progress });
            const forcedMerge = await waitForForcedMerges({ client: engine.client, database, progress });
            // disk per request log: after the merges settle, as a live system's older data is
            (partial.disk ??= []).push(await measureDiskUsage(engine.client, database));
            const suite = await runQuerySuite({
              client: engine.client,
              database,
              requestLogs: size,
              repetitions: options.queries.repetitions,
              nowMs,
              lookups: await entityOf(engine.client, database, requestIdOf(Math.floor(size / 2))),
              progress,
            });
            partial.queries.push({ ...suite, merges, forcedMerge, generation });
            progress.done(`queries at ${size}: slowest dashboard p95 ${suite.slowest.p95Ms} ms (${suite.slowest.name}), alert evaluation p95 ${suite.alertEvaluation.p95Ms} ms`);
          }
        }
      } finally {
        await engine.close();
      }
    }
  } catch (err) {
    // What finished is still worth keeping: the report is written with the error, and the run fails.
    failure = err as Error;
    partial.error = failure.message;
  } finally {
    await slowHost?.stop();
    rmSync(work, { recursive: true, force: true });
  }

  machine.loadAverageAtEnd = loadAverageNow();
  partial.finishedAt = new Date().toISOString();
  const report: BenchReport = { ...partial, summary: summarise(partial) };
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${stamp}-${options.mode}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  writeFileSync(join(outDir, `latest-${options.mode}.json`), JSON.stringify(report, null, 2));
  process.stdout.write(`${formatSummary(report)}\n`);
  if (report.queries) process.stdout.write(`${formatQueries(report.queries)}\n`);
  if (report.disk) process.stdout.write(`${formatDiskUsage(report.disk)}\n`);
  if (report.soak) process.stdout.write(`\n${formatSoak(report.soak)}\n`);
  process.stdout.write(`\nreport: ${file}\n`);
  // after the report is written, so a chart that fails to render costs no figure
  process.stdout.write(`charts: ${(await writeCharts(report, chartsDirOf(file))).join(', ')}\n`);
  if (failure) throw failure;
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`\nbench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
