import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { enqueueBatch } from '../queue/jobs.js';
import { redisKeys } from '../queue/redis-keys.js';
import { encodeRows, rowsBytes } from '../queue/job-rows.js';
import { decompressRows } from '../queue/rows-codec.js';
import type { BatchJobV3 } from '../queue/jobs.js';
import { sweepOrphanRows } from '../workers/orphan-rows.js';
import { requestLogRow, requestLogSchema } from '../schema/records.js';

// Since queue format v3 a job's rows live beside it in Redis (compressed since v4): they must go when the job goes, and
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

describe('rows beside their jobs (queue formats v3 and v4)', () => {
  it('stores the rows beside the job while queued, and deletes them once the job completed', async () => {
    await p.worker.worker.pause();
    try {
      const r = await p.post('logs', [log('kept-1'), log('kept-2')]);
      expect(r.status).toBe(202);
      const { batch_id } = (await r.json()) as { batch_id: string };
      const stored = await redis.getBuffer(redisKeys(p.config.QUEUE_PREFIX).rows(batch_id));
      expect(decompressRows('lz4', stored!).toString()).toContain('"kept-2"');
      expect((await redis.hget(redisKeys(p.config.QUEUE_PREFIX).job(batch_id), 'data'))!.length).toBeLessThan(400);
    } finally {
      p.worker.worker.resume();
    }
    await p.waitForIdle();
    await until(async () => (await rowKeys()).length === 0, 'the rows keys to be deleted');
    const landed = await p.rows<{ n: string }>(`SELECT count() AS n FROM ${p.database}.request_logs WHERE request_id LIKE 'kept-%'`);
    expect(Number(landed[0]!.n)).toBe(2);
  });

  /**
   * Queues `bad` (its rows then spoiled by `spoil`) beside a good one-row job, runs the worker, and
   * checks that `bad` failed at its first attempt for `reason` while its neighbour landed.
   */
  const failsAloneAtOnce = async (bad: string, spoil: (jobId: string) => Promise<void>, reason: RegExp) => {
    await p.worker.worker.pause();
    await enqueueBatch(p.worker.queue, redis, encodeRows('logs', `batch-${bad}`, Date.now(), [requestLogRow(requestLogSchema.parse(log(`${bad}-1`)))]), `${bad}-job`);
    await spoil(`${bad}-job`);
    const ok = encodeRows('logs', `batch-beside-${bad}`, Date.now(), [requestLogRow(requestLogSchema.parse(log(`beside-${bad}`)))]);
    await enqueueBatch(p.worker.queue, redis, ok, `beside-${bad}-job`);
    p.worker.worker.resume();
    await p.waitForIdle();
    const job = await p.worker.queue.getJob(`${bad}-job`);
    expect(await job!.getState()).toBe('failed');
    expect(job!.attemptsMade).toBe(1);
    expect(job!.failedReason).toMatch(reason);
    const landed = await p.rows<{ request_id: string }>(`SELECT request_id FROM ${p.database}.request_logs WHERE request_id IN ('${bad}-1', 'beside-${bad}')`);
    expect(landed).toEqual([{ request_id: `beside-${bad}` }]);
  };
  const rowsKey = (jobId: string) => redisKeys(p.config.QUEUE_PREFIX).rows(jobId);

  it('fails a job whose rows are gone at once, without retries, and writes its neighbours', async () => {
    await failsAloneAtOnce('lost', async (id) => void (await redis.del(rowsKey(id))), /rows of job lost-job \(batch batch-lost\) are missing/);
  });

  it('fails a job whose stored rows are damaged at once, without retries, and writes its neighbours', async () => {
    const flipOneBit = async (id: string) => {
      const stored = (await redis.getBuffer(rowsKey(id)))!;
      const at = Math.floor(stored.length / 2);
      await redis.setrange(rowsKey(id), at, Buffer.from([stored[at]! ^ 0x10]));
    };
    await failsAloneAtOnce('damaged', flipOneBit, /rows of job damaged-job \(batch batch-damaged\) are damaged in Redis/);
  });

  it('writes a v3 job an older ingest queued (its rows stored uncompressed) beside v4 jobs', async () => {
    await p.worker.worker.pause();
    const row: Record<string, unknown> = requestLogRow(requestLogSchema.parse(log('old-v3-1')));
    const columns = Object.keys(row);
    const v3: BatchJobV3 = { v: 3, kind: 'logs', batch_id: 'batch-v3', received_at: Date.now(), columns: [...columns, 'batch_id'], count: 1 };
    await redis.set(redisKeys(p.config.QUEUE_PREFIX).rows('v3-job'), rowsBytes([[...columns.map((c) => row[c]), 'batch-v3']]));
    await p.worker.queue.add('logs', v3, { jobId: 'v3-job' });
    await enqueueBatch(p.worker.queue, redis, encodeRows('logs', 'batch-v4', Date.now(), [requestLogRow(requestLogSchema.parse(log('new-v4-1')))]), 'v4-job');
    p.worker.worker.resume();
    await p.waitForIdle();
    const landed = await p.rows<{ request_id: string; batch_id: string }>(
      `SELECT request_id, batch_id FROM ${p.database}.request_logs WHERE request_id IN ('old-v3-1', 'new-v4-1') ORDER BY request_id`,
    );
    expect(landed).toEqual([
      { request_id: 'new-v4-1', batch_id: 'batch-v4' },
      { request_id: 'old-v3-1', batch_id: 'batch-v3' },
    ]);
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
