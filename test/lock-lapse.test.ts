import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { redisKeys } from '../queue/redis-keys.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

/**
 * A job whose BullMQ lock lapsed while it waited in the batch writer (what a starved or frozen
 * worker sees) is left to its next attempt, and only it: the rest of its flush is written and
 * completed on the first attempt. Refusing the whole flush made every lapse cost a flush's worth
 * of retries, and a starved worker spin (workers/batch-writer.ts keepLocked).
 */
let p: TestPipeline;
let redis: Redis;
const JOBS = 6;
const ROWS = 25;

beforeAll(async () => {
  // A flush waits 2.5 s for its jobs: time to make one lock lapse while they are held.
  p = await startTestPipeline({ WORKER_LOCK_MS: '2000', FLUSH_IDLE_MS: '2500', FLUSH_MAX_WAIT_MS: '2500', FLUSH_MIN_INTERVAL_MS: '0' });
  redis = new Redis(p.config.REDIS_URL!);
});
afterAll(async () => {
  redis?.disconnect();
  await p?.close();
});

const logs = (batch: number) =>
  Array.from({ length: ROWS }, (_, i) => ({
    request_id: `lapse-${batch}-${i}`,
    timestamp: Date.now() - 1000,
    method: 'GET',
    endpoint: '/api/accounts/',
    status_code: 200,
    institution: 'erebor_mx_retail',
  }));

describe('a job lock that lapses while the job waits for its flush', () => {
  it('costs only that job: the rest of the flush is written on its first attempt', async () => {
    const failed: string[] = [];
    p.worker.worker.on('failed', (job) => failed.push(job!.id!));
    for (let b = 0; b < JOBS; b++) expect((await p.post('logs', logs(b))).status).toBe(202);
    await vi.waitFor(() => expect(p.worker.batchWriter.heldJobs).toBe(JOBS), { timeout: 2000, interval: 20 });

    // One job's lock disappears, as if no renewal had reached Redis for a lock period.
    const [lapsed] = await p.worker.queue.getActive();
    await redis.del(redisKeys(p.config.QUEUE_PREFIX).jobLock(lapsed!.id!));
    await p.waitForIdle(30_000);

    const db = p.database;
    const [row] = await p.rows<{ n: string; distinct: string }>(
      `SELECT count() AS n, uniqExact(request_id) AS distinct FROM ${db}.request_logs WHERE startsWith(request_id, 'lapse-')`,
    );
    expect([Number(row!.n), Number(row!.distinct)]).toEqual([JOBS * ROWS, JOBS * ROWS]);
    // the other jobs were not failed and retried because of it
    expect(failed.filter((id) => id !== lapsed!.id)).toEqual([]);
    expect(p.worker.batchWriter.stats.lockLostJobs, 'the lapsed attempt was left out of its flush').toBe(1);
  });
});
