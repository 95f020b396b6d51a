import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { startIngest } from '../../ingest/runtime.js';
import { startWorkerRuntime } from '../../workers/runtime.js';
import { freePort, startLocalRedis } from '../../scripts/local-redis.js';
import { testConfig } from '../helpers/pipeline.js';

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
    let accepted = 0;
    for (let i = 0; i < 20; i++) {
      expect((await post()).status).toBe(202);
      accepted += 10;
    }

    // kill -9: the AOF already holds every acknowledged write (written before Redis replies)
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
        if (res.status === 202) break;
        expect(res.status).toBe(503);
        if (tries > 100) throw new Error('ingest never reconnected');
        await new Promise((r) => setTimeout(r, 100));
      }
      accepted += 10;
    }

    const worker = await startWorkerRuntime(config, logger);
    const deadline = Date.now() + 60_000;
    while (Object.values(await worker.queue.getJobCounts('wait', 'active', 'delayed')).some((c) => c > 0)) {
      if (Date.now() > deadline) throw new Error('queue did not drain');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [row] = await (
      await worker.clickhouse.query({ query: 'SELECT count() AS n, uniqExact(request_id) AS u FROM observability.request_logs', format: 'JSONEachRow' })
    ).json<{ n: number; u: number }>();
    console.log(`redis restart: accepted ${accepted} records (${seq} requests sent, one while Redis was down), raw ${row!.n}`);
    expect([Number(row!.n), Number(row!.u)]).toEqual([accepted, accepted]);
    await ingest.stop();
    await worker.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
