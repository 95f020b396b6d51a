import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { enqueueBatch } from '../queue/jobs.js';
import { redisKeys } from '../queue/redis-keys.js';
import { encodeRows } from '../queue/job-rows.js';
import { sweepOrphanRows } from '../workers/orphan-rows.js';
import { requestLogRow, requestLogSchema } from '../schema/records.js';

// Since queue format v3 a job's rows live beside it in Redis: they must go when the job goes, and
// a job without them must fail loudly rather than retry forever or block its neighbours.
let p: TestPipeline;
let redis: Redis;
beforeAll(async () => {
  p = await startTestPipeline();
  redis = new Redis(p.config.REDIS_URL!);
});
afterAll(async () => {
  redis?.disconnect();
  await p?.close();
});

const rowKeys = () => redis.keys(redisKeys(p.config.QUEUE_PREFIX).rows('*'));
const until = async (check: () => Promise<boolean>, what: string, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const log = (id: string) => ({ request_id: id, timestamp: '2026-11-20T10:00:00Z', method: 'GET', endpoint: '/api/owners/', status_code: 200 });

describe('rows beside their jobs (queue format v3)', () => {
  it('stores the rows beside the job while queued, and deletes them once the job completed', async () => {
    await p.worker.worker.pause();
    try {
      const r = await p.post('logs', [log('kept-1'), log('kept-2')]);
      expect(r.status).toBe(202);
      const { batch_id } = (await r.json()) as { batch_id: string };
      const text = await redis.get(redisKeys(p.config.QUEUE_PREFIX).rows(batch_id));
      expect(text).toContain('"kept-2"');
      expect((await redis.hget(redisKeys(p.config.QUEUE_PREFIX).job(batch_id), 'data'))!.length).toBeLessThan(400);
    } finally {
      p.worker.worker.resume();
    }
    await p.waitForIdle();
    await until(async () => (await rowKeys()).length === 0, 'the rows keys to be deleted');
    const landed = await p.rows<{ n: string }>(`SELECT count() AS n FROM ${p.database}.request_logs WHERE request_id LIKE 'kept-%'`);
    expect(Number(landed[0]!.n)).toBe(2);
  });

  it('fails a job whose rows are gone at once, without retries, and writes its neighbours', async () => {
    await p.worker.worker.pause();
    const lost = encodeRows('logs', 'batch-lost', Date.now(), [requestLogRow(requestLogSchema.parse(log('lost-1')))]);
    await p.worker.queue.add('logs', lost.job, { jobId: 'lost-job' }); // no rows stored
    const ok = encodeRows('logs', 'batch-ok', Date.now(), [requestLogRow(requestLogSchema.parse(log('beside-1')))]);
    await enqueueBatch(p.worker.queue, redis, ok, 'ok-job');
    p.worker.worker.resume();
    await p.waitForIdle();
    const job = await p.worker.queue.getJob('lost-job');
    expect(await job!.getState()).toBe('failed');
    expect(job!.attemptsMade).toBe(1);
    expect(job!.failedReason).toMatch(/rows of job lost-job \(batch batch-lost\) are missing/);
    const landed = await p.rows<{ request_id: string }>(`SELECT request_id FROM ${p.database}.request_logs WHERE request_id IN ('lost-1', 'beside-1')`);
    expect(landed).toEqual([{ request_id: 'beside-1' }]);
  });

  it('sweeps rows whose job is gone once idle long enough, and keeps the rest', async () => {
    const prefix = p.config.QUEUE_PREFIX;
    await p.worker.worker.pause();
    try {
      const queued = encodeRows('logs', 'batch-queued', Date.now(), [requestLogRow(requestLogSchema.parse(log('queued-1')))]);
      await enqueueBatch(p.worker.queue, redis, queued, 'queued-job');
      await redis.set(redisKeys(prefix).rows('orphan-job'), '["x"]');
      // a fresh key may be an enqueue in progress: kept while younger than the idle threshold
      expect(await sweepOrphanRows(redis, prefix, 60)).toBe(0);
      expect(await redis.exists(redisKeys(prefix).rows('orphan-job'))).toBe(1);
      await new Promise((r) => setTimeout(r, 1100)); // OBJECT IDLETIME counts whole seconds
      expect(await sweepOrphanRows(redis, prefix, 1)).toBe(1);
      expect(await redis.exists(redisKeys(prefix).rows('orphan-job'))).toBe(0);
      expect(await redis.exists(redisKeys(prefix).rows('queued-job'))).toBe(1);
    } finally {
      p.worker.worker.resume();
    }
    await p.waitForIdle();
    const landed = await p.rows<{ n: string }>(`SELECT count() AS n FROM ${p.database}.request_logs WHERE request_id = 'queued-1'`);
    expect(Number(landed[0]!.n)).toBe(1);
  });
});
