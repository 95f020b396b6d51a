import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createLogger } from '../../lib/logger.js';
import { startWorkerRuntime } from '../../workers/runtime.js';
import { freePort } from '../../scripts/local-redis.js';
import { testConfig } from '../helpers/pipeline.js';
import { exited } from '../helpers/worker-process.js';
import { spawnIngest, waitUntilListening } from '../helpers/ingest-process.js';

/**
 * kill -9 the ingest process while requests are in flight. A request that got 202 is never lost;
 * one that got no answer is retried with its Idempotency-Key and still lands exactly once.
 */
const KILLS = 4;
const MIN_BATCHES = 240;
let ingest: ChildProcess | undefined;
afterAll(() => {
  ingest?.kill('SIGKILL');
});

describe('ingest killed with requests in flight', () => {
  it('loses no 202, and retried requests land once', async () => {
    const config = testConfig({ FLUSH_IDLE_MS: '20' });
    const worker = await startWorkerRuntime(config, createLogger('test', 'silent'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    ingest = spawnIngest(config, port);
    await waitUntilListening(url);

    let next = 0;
    let kills = 0;
    let noAnswer = 0;
    let retried409 = 0;
    const accepted = new Set<number>();
    const client = async () => {
      // keep posting until every kill has happened, so the kills always hit requests in flight
      for (let n = next++; n < MIN_BATCHES || kills < KILLS; n = next++) {
        const body = JSON.stringify(
          Array.from({ length: 10 }, (_, i) => ({
            request_id: `k${n}-${i}`,
            timestamp: Date.UTC(2026, 10, 20, 10) + n * 100 + i,
            method: 'POST',
            endpoint: '/api/links/',
            status_code: 201,
            institution: 'bank_a',
          })),
        );
        for (let attempt = 0; ; attempt++) {
          if (attempt > 400) throw new Error(`batch ${n} never accepted`);
          try {
            const res = await fetch(`${url}/v1/logs`, {
              method: 'POST',
              headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json', 'Idempotency-Key': `batch-${n}` },
              body,
            });
            if (res.status === 202) {
              accepted.add(n);
              break;
            }
            if (res.status === 409) retried409++;
            else expect([503]).toContain(res.status);
          } catch {
            noAnswer++; // connection refused or reset: the producer does not know, so it retries
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const clients = Promise.all(Array.from({ length: 6 }, client));
    for (let k = 0; k < KILLS; k++) {
      await new Promise((r) => setTimeout(r, 600 + Math.random() * 400));
      ingest.kill('SIGKILL');
      await exited(ingest);
      kills++;
      ingest = spawnIngest(config, port);
    }
    await clients;

    const deadline = Date.now() + 60_000;
    while (Object.values(await worker.queue.getJobCounts('wait', 'active', 'delayed')).some((c) => c > 0)) {
      if (Date.now() > deadline) throw new Error('queue did not drain');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [row] = await (
      await worker.clickhouse.query({
        query: `SELECT count() AS n, uniqExact(request_id) AS u, uniqExact(batch_id) AS b FROM observability.request_logs`,
        format: 'JSONEachRow',
      })
    ).json<{ n: number; u: number; b: number }>();
    const [rollup] = await (
      await worker.clickhouse.query({ query: `SELECT sum(requests) AS n FROM observability.request_stats_1m`, format: 'JSONEachRow' })
    ).json<{ n: number }>();
    ingest.kill('SIGTERM');
    await exited(ingest);
    await worker.stop();
    console.log(
      `ingest fault: ${KILLS} SIGKILLs; ${accepted.size} batches accepted after ${noAnswer} unanswered attempts and ${retried409} in-progress answers; ` +
        `raw ${row!.n} rows (${row!.u} distinct), rollup ${rollup!.n}`,
    );
    const batches = next - 6; // each of the 6 clients took one number past the end
    expect(accepted.size).toBe(batches);
    expect(batches).toBeGreaterThanOrEqual(MIN_BATCHES);
    expect(noAnswer, 'the kills hit requests in flight').toBeGreaterThan(0);
    expect([Number(row!.n), Number(row!.u), Number(row!.b), Number(rollup!.n)]).toEqual([batches * 10, batches * 10, batches, batches * 10]);
  }, 180_000);
});
