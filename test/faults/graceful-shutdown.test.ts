import { describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/logger.js';
import { startIngest } from '../../ingest/runtime.js';
import { createClickHouse } from '../../clickhouse/client.js';
import { QUEUE_NAME, type BatchJob } from '../../queue/jobs.js';
import { testConfig } from '../helpers/pipeline.js';
import { exited, spawnWorker, waitForDrain } from '../helpers/worker-process.js';

// SIGTERM while rows are held for a batch: the worker writes them, exits 0, and nothing is lost.
describe('worker stopped with SIGTERM mid-stream', () => {
  it('writes what it holds before exiting, and loses nothing', async () => {
    // a long flush wait, so the worker certainly holds unwritten jobs when SIGTERM arrives
    const config = testConfig({ FLUSH_MAX_WAIT_MS: '5000', FLUSH_IDLE_MS: '5000' });
    const ingest = await startIngest(config, createLogger('test', 'silent'));
    const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redis, prefix: config.QUEUE_PREFIX });
    let worker = spawnWorker(config);
    let accepted = 0;
    const post = async (n: number) => {
      const res = await fetch(`${ingest.url}/v1/logs`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
        body: JSON.stringify(
          Array.from({ length: 25 }, (_, i) => ({
            request_id: `g${n}-${i}`,
            timestamp: Date.UTC(2026, 10, 20, 10) + n * 1000,
            method: 'GET',
            endpoint: '/api/balances/',
            status_code: 200,
            institution: 'bank_a',
          })),
        ),
      });
      expect(res.status).toBe(202);
      accepted += 25;
    };
    // wait until the worker consumes (it takes jobs into its batch)
    for (let i = 0; i < 10; i++) await post(i);
    const deadline = Date.now() + 60_000;
    while ((await queue.getJobCounts('active')).active === 0) {
      if (Date.now() > deadline) throw new Error('worker never took a job');
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    const stopMs = Date.now() - t0;
    const left = await queue.getJobCounts('wait', 'active', 'delayed');
    // it did not wait out the 5 s flush delay, and left nothing half-done
    expect(stopMs).toBeLessThan(5000);
    expect(left.active).toBe(0);

    for (let i = 10; i < 15; i++) await post(i); // accepted while no worker runs
    worker = spawnWorker(config, { FLUSH_MAX_WAIT_MS: '200', FLUSH_IDLE_MS: '20' });
    await waitForDrain(queue);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    await ingest.stop();
    await queue.close();
    redis.disconnect();

    const ch = createClickHouse(config);
    const rows = await (
      await ch.query({ query: `SELECT count() AS n, uniqExact(request_id) AS u FROM observability.request_logs`, format: 'JSONEachRow' })
    ).json<{ n: number; u: number }>();
    const rollup = await (await ch.query({ query: `SELECT sum(requests) AS n FROM observability.request_stats_1m`, format: 'JSONEachRow' })).json<{ n: number }>();
    await ch.close();
    console.log(`graceful: SIGTERM took ${stopMs} ms; accepted ${accepted}, raw ${rows[0]!.n}, rollup ${rollup[0]!.n}`);
    expect([Number(rows[0]!.n), Number(rows[0]!.u), Number(rollup[0]!.n)]).toEqual([accepted, accepted, accepted]);
  }, 180_000);
});
