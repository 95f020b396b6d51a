import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, rowBuckets, secondsBuckets } from '../lib/metrics.js';
import type { BatchJob } from '../queue/jobs.js';
import type { BatchWriter } from './batch-writer.js';
import type { ClickHouseWriter } from './clickhouse-writer.js';

/** The worker's Prometheus metrics. Counters of the batch writer are read at scrape time. */
export function createWorkerMetrics() {
  const registry = new Registry();
  return {
    registry,
    insertSeconds: registry.register(new Histogram('obs_clickhouse_insert_seconds', 'Duration of one ClickHouse insert', secondsBuckets, ['table'])),
    insertRows: registry.register(new Histogram('obs_clickhouse_insert_rows', 'Rows per ClickHouse insert', rowBuckets, ['table'])),
    rowsWritten: registry.register(new Counter('obs_rows_written_total', 'Rows written to ClickHouse', ['table'])),
    retries: registry.register(new Counter('obs_clickhouse_insert_retries_total', 'Failed insert attempts that will be retried', ['table'])),
    jobLatency: registry.register(new Histogram('obs_job_latency_seconds', 'From ingest accepting a batch to its rows being in ClickHouse', secondsBuckets)),
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Gauges that need the running worker: queue depth and the batch writer's totals. */
export function registerWorkerGauges(m: WorkerMetrics, queue: Queue<BatchJob>, batchWriter: BatchWriter) {
  m.registry.register(
    new Gauge('obs_queue_jobs', 'Jobs in the ingest queue by state', async () => {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'failed');
      return Object.entries(c).map(([state, value]) => ({ labels: { state }, value }));
    }),
  );
  const s = batchWriter.stats;
  m.registry.register(
    new Gauge('obs_worker_totals', 'Batch writer totals since start', () => [
      { labels: { what: 'flushes' }, value: s.flushes },
      { labels: { what: 'jobs_written' }, value: s.jobsWritten },
      { labels: { what: 'recovered_flushes' }, value: s.recoveredFlushes },
      { labels: { what: 'isolated_jobs' }, value: s.isolatedJobs },
      { labels: { what: 'dead_letters' }, value: s.deadLettered },
    ]),
  );
}

/**
 * Liveness: a worker is wedged when the queue has work and it has taken or finished no job for
 * `stallMs` while not waiting on ClickHouse (a ClickHouse outage is not cured by a restart).
 * Known failure it catches: a consumer that silently stops fetching after a Redis failover.
 */
export class Liveness {
  private lastProgressAt = Date.now();
  constructor(
    private readonly queue: Queue<BatchJob>,
    private readonly writer: ClickHouseWriter,
    private readonly stallMs: number,
  ) {}

  progress(): void {
    this.lastProgressAt = Date.now();
  }

  async check(): Promise<{ ok: boolean; detail: Record<string, unknown> }> {
    const idleMs = Date.now() - this.lastProgressAt;
    let waiting: number;
    try {
      const c = await Promise.race([
        this.queue.getJobCounts('wait', 'prioritized'),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('redis did not answer in 2 s')), 2000)),
      ]);
      waiting = c.wait! + c.prioritized!;
    } catch (err) {
      return { ok: false, detail: { reason: `queue unreachable: ${(err as Error).message}` } };
    }
    const retrying = this.writer.retrying > 0;
    if (waiting > 0 && idleMs > this.stallMs && !retrying) {
      return { ok: false, detail: { reason: `${waiting} jobs waiting and none taken for ${Math.round(idleMs / 1000)} s`, waiting, idle_ms: idleMs } };
    }
    return { ok: true, detail: { waiting, idle_ms: idleMs, waiting_for_clickhouse: retrying } };
  }
}
