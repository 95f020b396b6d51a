import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { startWorkerRuntime, type WorkerRuntime } from '../workers/runtime.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

/**
 * Two workers consume one queue and write through one ClickHouse (the embedded engine, shared:
 * one engine per process). Exactly-once must hold across them: in steady state each job is
 * written by exactly one worker, and when a worker dies holding jobs, the other takes them over
 * after the lock expires without writing them a second time (flush manifests in Redis and
 * insert_deduplication_token; see README "What a 202 means").
 */
let pipeline: TestPipeline;
let second: WorkerRuntime;
const stalledOnSecond: string[] = [];

beforeAll(async () => {
  // Worker one: small concurrency so both workers get jobs, a short lock so a takeover happens
  // within seconds, and a slow flush so it reliably holds jobs when it is killed below.
  pipeline = await startTestPipeline({ WORKER_CONCURRENCY: '4', WORKER_LOCK_MS: '1000', FLUSH_IDLE_MS: '400', FLUSH_MAX_WAIT_MS: '400' });
  // Worker two: same queue, same Redis prefix, same engine; started before any traffic, so its
  // start-up crash repair (embedded mode) finds nothing open that worker one is writing.
  second = await startWorkerRuntime(
    { ...pipeline.config, FLUSH_IDLE_MS: 20, FLUSH_MAX_WAIT_MS: 200 },
    createLogger('worker-2', pipeline.config.LOG_LEVEL),
    { clickhouse: pipeline.clickhouse },
  );
  // either worker's stalled-job check may be the one that hands a dead worker's jobs back
  second.worker.on('stalled', (jobId) => stalledOnSecond.push(jobId));
  pipeline.worker.worker.on('stalled', (jobId) => stalledOnSecond.push(jobId));
});

afterAll(async () => {
  await second?.stop();
  await pipeline?.close();
});

const count = async (sql: string) => Number((await pipeline.rows<{ n: number | string }>(sql))[0]!.n);

/** Posts `batches` batches of logs (`size` rows each) and of webhook attempts, all at once. */
async function postTraffic(tag: string, batches: number, size: number) {
  const now = Date.now();
  const posts: Promise<Response>[] = [];
  for (let b = 0; b < batches; b++) {
    const logs = Array.from({ length: size }, (_, i) => ({
      request_id: `${tag}-r-${b}-${i}`,
      timestamp: now - i * 1000,
      method: 'GET',
      endpoint: '/api/accounts/',
      status_code: i % 10 === 0 ? 500 : 200,
      duration_ms: 100 + i,
      link_id: `${tag}-link-${i % 7}`,
      institution: 'erebor_mx_retail',
      customer_id: tag,
    }));
    const attempts = Array.from({ length: size / 5 }, (_, i) => ({
      webhook_id: `${tag}-w-${b}-${i}`,
      event: 'new_transactions_available',
      type: 'TRANSACTIONS',
      link_id: `${tag}-link-${i % 7}`,
      attempt: 1,
      url: 'https://hooks.example/h',
      status_code: 200,
      timestamp: now,
      customer_id: tag,
    }));
    posts.push(pipeline.post('logs', logs), pipeline.post('webhook-attempts', attempts));
  }
  for (const res of await Promise.all(posts)) expect(res.status).toBe(202);
  return { logs: batches * size, attempts: (batches * size) / 5, jobs: posts.length };
}

/** What an operator checks: raw rows once each, and every rollup agreeing with the raw rows. */
async function expectExactlyOnce(tag: string, expected: { logs: number; attempts: number }) {
  const db = pipeline.database;
  expect(await count(`SELECT count() AS n FROM ${db}.request_logs WHERE customer_id = '${tag}'`)).toBe(expected.logs);
  expect(await count(`SELECT uniqExact(request_id) AS n FROM ${db}.request_logs WHERE customer_id = '${tag}'`)).toBe(expected.logs);
  expect(await count(`SELECT sum(requests) AS n FROM ${db}.request_stats_1m WHERE customer_id = '${tag}'`)).toBe(expected.logs);
  expect(await count(`SELECT sum(requests) AS n FROM ${db}.link_activity WHERE link_id LIKE '${tag}-link-%'`)).toBe(expected.logs);
  expect(await count(`SELECT sum(errors) AS n FROM ${db}.link_activity WHERE link_id LIKE '${tag}-link-%'`)).toBe(
    await count(`SELECT countIf(status_code >= 400) AS n FROM ${db}.request_logs WHERE customer_id = '${tag}'`),
  );
  expect(await count(`SELECT count() AS n FROM ${db}.webhook_attempts WHERE customer_id = '${tag}'`)).toBe(expected.attempts);
  expect(await count(`SELECT sum(attempts) AS n FROM ${db}.webhook_stats_1m WHERE customer_id = '${tag}'`)).toBe(expected.attempts);
}

describe('two workers on one queue', () => {
  it('share the work and write every job exactly once', async () => {
    const before = pipeline.worker.batchWriter.stats.jobsWritten + second.batchWriter.stats.jobsWritten;
    const sent = await postTraffic('steady', 40, 50);
    await pipeline.waitForIdle();
    await expectExactlyOnce('steady', sent);
    const first = pipeline.worker.batchWriter.stats.jobsWritten;
    const other = second.batchWriter.stats.jobsWritten;
    expect(first, 'worker one wrote jobs').toBeGreaterThan(0);
    expect(other, 'worker two wrote jobs').toBeGreaterThan(0);
    // each job written by one worker, once (no job written by both)
    expect(first + other - before).toBe(sent.jobs);
  });

  it('a worker frozen past its locks: the other takes its jobs over, and the frozen one writes nothing', async () => {
    // A third worker that holds every job it takes (no flush before its 60 s timers).
    const frozen = await startWorkerRuntime(
      { ...pipeline.config, WORKER_CONCURRENCY: 100, FLUSH_MAX_ROWS: 1_000_000, FLUSH_IDLE_MS: 60_000, FLUSH_MAX_WAIT_MS: 60_000 },
      createLogger('worker-frozen', pipeline.config.LOG_LEVEL),
      { clickhouse: pipeline.clickhouse },
    );
    await pipeline.worker.worker.pause(true);
    await second.worker.pause(true);
    const sent = await postTraffic('takeover', 10, 50);
    await vi.waitFor(() => expect(frozen.batchWriter.heldJobs).toBeGreaterThan(0), { timeout: 10_000 });
    const held = frozen.batchWriter.heldJobs;
    // It freezes: no more lock renewals. Worker two takes the jobs over once the 1 s locks expire.
    await frozen.worker.close(true);
    second.worker.resume();
    pipeline.worker.worker.resume();
    await pipeline.waitForIdle(60_000);
    expect(stalledOnSecond.length, 'jobs taken over from the frozen worker').toBeGreaterThan(0);
    // It wakes up and tries to write what it held: refused, because its locks are gone.
    frozen.batchWriter.drain();
    await vi.waitFor(() => expect(frozen.batchWriter.heldJobs).toBe(0), { timeout: 10_000 });
    expect(frozen.batchWriter.stats.rowsWritten).toBe(0);
    await expectExactlyOnce('takeover', sent);
    expect(held).toBeGreaterThan(0);
    await frozen.stop();
  });
});
