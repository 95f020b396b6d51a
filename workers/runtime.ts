import { Job, Queue, type Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import { clickhouseMode, createClickHouse, type ClickHouseClient } from '../clickhouse/client.js';
import { migrate, MigrationRefused } from '../clickhouse/migrate.js';
import { QUEUE_NAME, workerRedis, type BatchJob } from '../queue/jobs.js';
import { redisKeys } from '../queue/redis-keys.js';
import { readJobRows } from '../queue/job-rows.js';
import { warnIfRedisNotDurable } from '../queue/redis-persistence.js';
import { sweepOrphanRows } from './orphan-rows.js';
import { capDelayedRetries, withCappedRetryDelay } from './retry-delay.js';
import { ClickHouseWriter } from './clickhouse-writer.js';
import { BatchWriter } from './batch-writer.js';
import { LockKeepingWorker } from './lock-keeping-worker.js';
import { FlushManifests } from './flush-manifests.js';
import { repairInterruptedFlushes } from './crash-repair.js';
import { createWorkerMetrics, Liveness, registerWorkerGauges, type WorkerMetrics } from './observability.js';
import { startAlerting } from '../alerting/runtime.js';

export interface WorkerRuntime {
  clickhouse: ClickHouseClient;
  batchWriter: BatchWriter;
  worker: Worker<BatchJob>;
  queue: Queue<BatchJob>;
  metrics: WorkerMetrics;
  liveness: Liveness;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Applies migrations, retrying until ClickHouse answers (it may start after us). */
async function migrateWhenReachable(client: ClickHouseClient, config: Config, logger: Logger, signal: AbortSignal) {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(client, {
        database: config.CLICKHOUSE_DATABASE,
        rawTtlDays: config.RAW_TTL_DAYS,
        cluster: config.CLICKHOUSE_CLUSTER,
        // The embedded engine's directory is this process's alone, and no job runs before this returns.
        exclusive: clickhouseMode(config) === 'embedded',
        log: (l) => logger.info(l),
      });
      return;
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof MigrationRefused) logger.error({ attempt, err: err.message }, 'a migration needs an operator; retrying');
      else logger.warn({ attempt, err: (err as Error).message }, 'migrations failed; ClickHouse unreachable? retrying');
      await sleep(Math.min(500 * attempt, 5000));
    }
  }
}

/**
 * Everything a worker process runs: migrations, the BullMQ consumer, the batch writer and the
 * ClickHouse health heartbeat. Tests run it in-process; workers/main.ts wraps it with signals.
 */
export async function startWorkerRuntime(
  config: Config,
  logger: Logger,
  opts: { clickhouse?: ClickHouseClient } = {},
): Promise<WorkerRuntime> {
  if (!config.REDIS_URL) throw new Error('REDIS_URL is required');
  const abort = new AbortController();
  const keys = redisKeys(config.QUEUE_PREFIX);
  const clickhouse = opts.clickhouse ?? createClickHouse(config);
  await migrateWhenReachable(clickhouse, config, logger, abort.signal);

  const redis = workerRedis(config.REDIS_URL);
  warnIfRedisNotDurable(redis, logger);
  // The per-job bookkeeping (flush lookups, rows reads, deletes) of up to WORKER_CONCURRENCY jobs
  // arrives in bursts: auto-pipelining sends each burst in one write instead of one per command.
  const jobRedis = workerRedis(config.REDIS_URL, { enableAutoPipelining: true });
  // As in ingest: a Redis restart is logged, not an "Unhandled error event" from ioredis; both reconnect.
  for (const connection of [redis, jobRedis]) connection.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redis, prefix: config.QUEUE_PREFIX });
  const metrics = createWorkerMetrics();
  const writer = new ClickHouseWriter({
    client: clickhouse,
    database: config.CLICKHOUSE_DATABASE,
    logger,
    signal: abort.signal,
    onRetry: (table) => metrics.retries.inc({ table }),
    onInsert: (table, rows, seconds) => {
      metrics.insertSeconds.observe(seconds, { table });
      metrics.insertRows.observe(rows, { table });
      metrics.rowsWritten.inc({ table }, rows);
    },
  });
  const manifests = new FlushManifests(jobRedis, config.QUEUE_PREFIX);
  const loadJob = (id: string) => Job.fromId<BatchJob>(queue, id);
  const loadRows = (job: Job<BatchJob>) => readJobRows(jobRedis, config.QUEUE_PREFIX, job);
  if (clickhouseMode(config) === 'embedded') {
    // We just opened the engine: whatever our predecessor left half-written is repaired first.
    const report = await repairInterruptedFlushes({ client: clickhouse, database: config.CLICKHOUSE_DATABASE, manifests, loadJob, loadRows, logger });
    if (report.flushes) logger.warn(report, 'crash repair done');
  }
  const batchWriter = new BatchWriter({
    writer,
    manifests,
    logger,
    loadJob,
    loadRows,
    maxRows: config.FLUSH_MAX_ROWS,
    maxWaitMs: config.FLUSH_MAX_WAIT_MS,
    idleMs: config.FLUSH_IDLE_MS,
    minIntervalMs: config.FLUSH_MIN_INTERVAL_MS,
    concurrency: config.WORKER_CONCURRENCY,
    // BullMQ's own renewal (its extendLocks script, as its lock timer runs it): a held lock is
    // extended by the worker's lease (at least WORKER_LOCK_MS), a lapsed one reported and left alone.
    renewLocks: (jobs): Promise<string[]> => worker.extendJobLocks(jobs.map((j) => j.jobId), jobs.map((j) => j.token), config.WORKER_LOCK_MS),
  });

  const retryCap = { maxDelayMs: config.JOB_RETRY_MAX_DELAY_MS };
  const processor = withCappedRetryDelay<BatchJob>((job, token) => batchWriter.process(job, token), retryCap, logger);
  const worker: Worker<BatchJob> = new LockKeepingWorker<BatchJob>(QUEUE_NAME, processor, {
    connection: workerRedis(config.REDIS_URL),
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: Math.max(1000, Math.floor(config.WORKER_LOCK_MS / 2)),
    // A worker killed again and again must not turn its jobs into failures: they are re-run.
    maxStalledCount: 1_000_000,
    autorun: true,
  });
  const liveness = new Liveness(queue, writer, config.LIVENESS_STALL_MS);
  registerWorkerGauges(metrics, queue, batchWriter);
  worker.on('active', () => liveness.progress());
  worker.on('completed', (job) => {
    liveness.progress();
    batchWriter.jobCompleted(job.id!);
    // the job is gone, so are its rows (a crash right here leaves them to sweepOrphanRows)
    jobRedis.unlink(keys.rows(job.id!)).catch(() => {});
    metrics.jobLatency.observe((Date.now() - job.data.received_at) / 1000);
  });
  worker.on('failed', (job, err) => logger.warn({ job: job?.id, err: err.message }, 'job attempt failed; it will be retried'));
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  capDelayedRetries(queue, retryCap).then(
    (n) => n && logger.warn({ rescheduled: n, maxDelayMs: retryCap.maxDelayMs }, 'brought forward jobs delayed past the retry cap'),
    (err: Error) => logger.warn({ err: err.message }, 'capping delayed retries failed'),
  );

  // the engine-owning worker reports ClickHouse health for ingest's /readyz (embedded mode)
  const healthKey = keys.clickhouseHealth();
  const beat = async () => {
    let state = 'ok';
    try {
      const r = await clickhouse.ping();
      if (!r.success) state = `clickhouse: ${r.error.message}`;
    } catch (err) {
      state = `clickhouse: ${(err as Error).message}`;
    }
    await redis.set(healthKey, state, 'PX', 15_000).catch(() => {});
  };
  void beat();
  const heartbeat = setInterval(() => void beat(), 5000);
  const sweep = () =>
    sweepOrphanRows(redis, config.QUEUE_PREFIX).then(
      (n) => n && logger.warn({ deleted: n }, 'deleted rows whose job is gone'),
      (err: Error) => logger.warn({ err: err.message }, 'orphan rows sweep failed'),
    );
  void sweep();
  const sweeper = setInterval(() => void sweep(), 10 * 60_000);

  // Built-in alert evaluator (alerting/): its own queues, off unless ALERTS_ENABLED.
  const alerting = config.ALERTS_ENABLED ? await startAlerting({ config, clickhouse, logger }) : undefined;

  logger.info(
    { mode: clickhouseMode(config), concurrency: config.WORKER_CONCURRENCY, prefix: config.QUEUE_PREFIX },
    'worker consuming',
  );

  let stopped = false;
  return {
    clickhouse,
    batchWriter,
    worker,
    queue,
    metrics,
    liveness,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(sweeper);
      // Stop taking jobs, write what is held now, let active jobs finish, then close connections.
      const closing = worker.close();
      batchWriter.drain();
      const timeout = setTimeout(() => abort.abort(), 30_000);
      await closing;
      clearTimeout(timeout);
      await alerting?.stop();
      await queue.close();
      redis.disconnect();
      jobRedis.disconnect();
      if (!opts.clickhouse) await clickhouse.close();
    },
  };
}
