import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../scripts/local-redis.js';
import { createIngestQueue, enqueueBatchWith, type BatchJob, type EncodedBatch } from '../queue/jobs.js';
import { redisKeys } from '../queue/redis-keys.js';
import { Idempotency } from '../ingest/idempotency.js';

// An enqueue with more writes (ingest's idempotent answer) is one MULTI/EXEC: with appendfsync always
// that is one AOF write and fsync before the reply, and rows, job and answer are stored together or not at all. Own Redis (the durable
// configuration of scripts/local-redis.ts): the test reads and resets its command statistics.
let dir: string;
let server: LocalRedis;
let redis: Redis;
let queue: Queue<BatchJob>;
const prefix = 'txn';

const batch = (id: string, text = `["${id}",1]`): EncodedBatch => ({
  job: { v: 3, kind: 'logs', batch_id: id, received_at: Date.now(), columns: ['request_id', 'batch_id'], count: 1 },
  text: Buffer.from(text),
});
const calls = async (): Promise<Record<string, number>> => {
  const out: Record<string, number> = {};
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'obs-txn-'));
  server = await startLocalRedis({ dir });
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  queue = createIngestQueue(redis, prefix);
  await queue.waitUntilReady();
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const extra = (key: string) => (tx: Parameters<Parameters<typeof enqueueBatchWith>[2]>[0]) => void tx.runCommand('set', [key, '1']);

describe('enqueueBatchWith', () => {
  it('stores the rows, the job and the extra writes in one transaction, and a retry of the same id changes neither', async () => {
    await enqueueBatchWith(queue, batch('b1'), extra('extra-b1')); // the first use of the job script on this connection sends it whole
    await redis.config('RESETSTAT');
    await enqueueBatchWith(queue, batch('b2'), extra('extra-b2'));
    const stats = await calls();
    expect(stats.multi).toBe(1);
    expect(stats.exec).toBe(1);
    expect(stats.set).toBe(2);
    expect(await redis.get('extra-b2')).toBe('1');
    // the durable configuration: each EXEC is written and fsynced before its reply
    expect(await redis.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);

    expect((await redis.getBuffer(redisKeys(prefix).rows('b2')))?.toString()).toBe('["b2",1]');
    expect((await queue.getJob('b2'))?.data).toMatchObject({ v: 3, batch_id: 'b2', count: 1 });
    expect(await queue.getJobCounts('wait')).toEqual({ wait: 2 });

    await enqueueBatchWith(queue, batch('b2', '["other",1]'), extra('extra-b2'));
    expect((await redis.getBuffer(redisKeys(prefix).rows('b2')))?.toString()).toBe('["b2",1]');
    expect(await queue.getJobCounts('wait')).toEqual({ wait: 2 });
  });

  it('gives the job the queue default options, as Queue.add would', async () => {
    await enqueueBatchWith(queue, batch('b3'), extra('extra-b3'));
    const job = await queue.getJob('b3');
    expect(job?.opts).toMatchObject({ attempts: queue.defaultJobOptions.attempts, removeOnComplete: true });
  });

  it('stores neither the rows, the job nor the extra writes when Redis refuses the write (out of memory)', async () => {
    const [, limit] = (await redis.config('GET', 'maxmemory')) as [string, string];
    await redis.config('SET', 'maxmemory', '1');
    try {
      await expect(enqueueBatchWith(queue, batch('refused'), extra('extra-refused'))).rejects.toThrow(/OOM|EXECABORT/);
    } finally {
      await redis.config('SET', 'maxmemory', limit);
    }
    expect(await redis.exists(redisKeys(prefix).rows('refused'))).toBe(0);
    expect(await queue.getJob('refused')).toBeUndefined();
    expect(await redis.exists('extra-refused')).toBe(0);
  });

  it('stores an idempotent answer in the same transaction as its batch', async () => {
    const idem = new Idempotency(redis, prefix, 60);
    const body = Buffer.from('[{"a":1}]');
    await redis.config('RESETSTAT');
    await enqueueBatchWith(queue, batch('b5'), (tx) => idem.completeIn(tx, 'key-id', 'k5', body, { status: 202, body: { batch_id: 'b5' } }));
    const stats = await calls();
    expect([stats.multi, stats.exec, stats.set]).toEqual([1, 1, 2]);
    // a retry with the same key and body gets that answer back
    expect(await idem.claim('key-id', 'k5', body)).toEqual({ status: 202, body: { batch_id: 'b5' } });
  });
});

describe('Idempotency.claimAndLookup', () => {
  const body = Buffer.from('[{"a":2}]');
  it('claims the key and says whether the batch was written, in one round trip', async () => {
    const idem = new Idempotency(redis, prefix, 60);
    await redis.config('RESETSTAT');
    expect(await idem.claimAndLookup('key-id', 'k6', body, 'batch-6')).toEqual({ replay: null, written: false });
    await redis.set(redisKeys(prefix).batchDone('batch-7'), '1');
    expect(await idem.claimAndLookup('key-id', 'k7', body, 'batch-7')).toEqual({ replay: null, written: true });
    const stats = await calls();
    expect([stats.set, stats.exists]).toEqual([3, 2]);
  });

  it('refuses a key still being processed, and a key reused with another body', async () => {
    const idem = new Idempotency(redis, prefix, 60);
    await idem.claimAndLookup('key-id', 'k8', body, 'batch-8');
    await expect(idem.claimAndLookup('key-id', 'k8', body, 'batch-8')).rejects.toMatchObject({ code: 'idempotency_conflict' });
    await idem.complete('key-id', 'k8', body, { status: 202, body: { batch_id: 'batch-8' } });
    expect((await idem.claimAndLookup('key-id', 'k8', body, 'batch-8')).replay).toEqual({ status: 202, body: { batch_id: 'batch-8' } });
    await expect(idem.claimAndLookup('key-id', 'k8', Buffer.from('other'), 'batch-8')).rejects.toMatchObject({ code: 'idempotency_conflict' });
  });
});
