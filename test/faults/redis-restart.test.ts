import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/logger.js';
import { startIngest } from '../../ingest/runtime.js';
import { startWorkerRuntime } from '../../workers/runtime.js';
import { freePort, startLocalRedis } from '../../scripts/local-redis.js';
import { testConfig } from '../helpers/pipeline.js';
import { ALL_JOB_STATES, BatchLedger } from './batch-ledger.js';

/** Redis killed (SIGKILL) and restarted with its AOF while jobs are queued: every 202 still lands. */
describe('Redis restarted while jobs are queued', () => {
  it('answers 503 while Redis is down and loses no accepted batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'obs-redis-fault-'));
    const port = await freePort();
    let redis = await startLocalRedis({ dir, port });
    const config = testConfig({ REDIS_URL: redis.url, FLUSH_IDLE_MS: '20' });
    const logger = createLogger('test', 'silent');
    const ingest = await startIngest(config, logger);
    let seq = 0;
    const post = () => {
      const n = seq++;
      return fetch(`${ingest.url}/v1/logs`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
        body: JSON.stringify(
          Array.from({ length: 10 }, (_, i) => ({
            request_id: `rr${n}-${i}`,
            timestamp: Date.UTC(2026, 10, 20) + n * 1000 + i,
            method: 'GET',
            endpoint: '/api/balances/',
            status_code: 200,
          })),
        ),
      });
    };
    const ledger = new BatchLedger();
    const accept = async (res: Response) => ledger.accept(((await res.json()) as { batch_id: string }).batch_id, 10);
    for (let i = 0; i < 20; i++) {
      const res = await post();
      expect(res.status).toBe(202);
      await accept(res);
    }

    // kill -9: the AOF already holds every acknowledged write (appendfsync always: written and fsynced before Redis replies)
    redis.process.kill('SIGKILL');
    await new Promise((r) => redis.process.once('exit', r));
    const t0 = Date.now();
    const down = await post();
    expect(down.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await down.json()).toMatchObject({ code: 'unavailable' });

    redis = await startLocalRedis({ dir, port });
    // producers retry 503s; ingest reconnects by itself
    for (let i = 0; i < 10; i++) {
      for (let tries = 0; ; tries++) {
        const res = await post();
        if (res.status === 202) {
          await accept(res);
          break;
        }
        expect(res.status).toBe(503);
        if (tries > 100) throw new Error('ingest never reconnected');
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    const worker = await startWorkerRuntime(config, logger);
    // every pending state (BullMQ has more than wait/active/delayed), then every accepted batch id
    const landed = await ledger.waitForLanding(worker.queue, worker.clickhouse, 'observability.request_logs', 60_000);
    const { missing, duplicated } = ledger.discrepancies(landed);
    const [row] = await (
      await worker.clickhouse.query({ query: 'SELECT count() AS n, uniqExact(request_id) AS u FROM observability.request_logs', format: 'JSONEachRow' })
    ).json<{ n: number; u: number }>();
    const accepted = ledger.records;
    console.log(
      `redis restart: accepted ${accepted} records in ${ledger.accepted.size} batches (${seq} requests sent, one while Redis was down), raw ${row!.n}; ` +
        `job counts ${JSON.stringify(await worker.queue.getJobCounts(...ALL_JOB_STATES))}`,
    );
    if (missing.length) {
      const client = new Redis(redis.url);
      console.log((await ledger.explain(missing, { queue: worker.queue, redis: client, prefix: config.QUEUE_PREFIX, redisDir: dir, landed })).join('\n'));
      client.disconnect();
    }
    expect({ missing, duplicated }).toEqual({ missing: [], duplicated: [] });
    expect([Number(row!.n), Number(row!.u)]).toEqual([accepted, accepted]);
    await ingest.stop();
    await worker.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
