import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/logger.js';
import { startIngest } from '../../ingest/runtime.js';
import { startQueryEndpoint } from '../../workers/query-endpoint.js';
import { freePort } from '../../scripts/local-redis.js';
import { loadConfig } from '../../config/env.js';
import { testConfig } from '../helpers/pipeline.js';
import { QUEUE_NAME, type BatchJob } from '../../queue/jobs.js';
import { exited, spawnWorker, waitForDrain } from '../helpers/worker-process.js';

/**
 * ClickHouse goes away while traffic flows (server mode). Ingest keeps accepting up to its queue
 * cap, then answers 429; nothing is dropped, and once ClickHouse is back everything lands once.
 * The "server" is the real engine behind the ClickHouse-HTTP-compatible query endpoint; the worker
 * is a separate process in server mode, so this also runs the server-mode write path end to end.
 */
let worker: ChildProcess | undefined;
afterAll(() => {
  worker?.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Each wait for rows to land; generous so a loaded machine fails only when nothing lands at all. */
const LANDING_BUDGET_MS = 150_000;

describe('ClickHouse unavailable for a while', () => {
  it('queues up to the cap, answers 429, and lands everything after recovery', async () => {
    const port = await freePort();
    const base = testConfig({ QUERY_PORT: String(port), QUERY_PASSWORD: 'server-pw' });
    const logger = createLogger('test', 'silent');
    let server = await startQueryEndpoint(base, logger);
    const chUrl = `http://127.0.0.1:${port}`;
    const serverMode = loadConfig({
      // back to environment strings; parsed maps (OTLP_ATTRIBUTES) are left to their defaults
      ...Object.fromEntries(
        Object.entries(base)
          .filter(([, v]) => Array.isArray(v) || v === null || typeof v !== 'object')
          .map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '')]),
      ),
      CLICKHOUSE_URL: chUrl,
      CLICKHOUSE_PASSWORD: 'server-pw',
      QUEUE_MAX_JOBS: '12',
      BACKPRESSURE_RETRY_AFTER_S: '2',
    });
    const ingest = await startIngest(serverMode, logger);
    worker = spawnWorker(base, { CLICKHOUSE_URL: chUrl, CLICKHOUSE_PASSWORD: 'server-pw', FLUSH_IDLE_MS: '20', FLUSH_MAX_WAIT_MS: '200' });
    // quiet: the first polls run before the worker has created the database
    const ch = createClient({ url: chUrl, password: 'server-pw', log: { level: ClickHouseLogLevel.OFF } });
    const count = async (sql: string) => Number((await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);

    let seq = 0;
    const post = async () => {
      const n = seq++;
      const res = await fetch(`${ingest.url}/v1/logs`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
        body: JSON.stringify(
          Array.from({ length: 20 }, (_, i) => ({
            request_id: `c${n}-${i}`,
            timestamp: Date.UTC(2026, 10, 20, 10) + n * 1000 + i,
            method: 'GET',
            endpoint: '/api/accounts/',
            status_code: i % 5 === 0 ? 503 : 200,
            institution: 'bank_a',
          })),
        ),
      });
      return res;
    };

    // 1. healthy: batches land through the server-mode worker. The budget covers the worker's start
    // (tsx, migrations over HTTP): over 60 s with the machine loaded (scripts/fault-soak.ts).
    let accepted = 0;
    for (let i = 0; i < 5; i++) if ((await post()).status === 202) accepted += 20;
    const deadline = Date.now() + LANDING_BUDGET_MS;
    while ((await count('SELECT count() AS n FROM observability.request_logs').catch(() => 0)) < accepted) {
      if (Date.now() > deadline) throw new Error('healthy phase did not land');
      await sleep(100);
    }
    expect((await fetch(`${ingest.url}/readyz`)).status).toBe(200);
    // Rows are visible a moment before their jobs complete; under load that moment is long enough
    // for the healthy phase's jobs to still count against the cap below, so wait for the queue too.
    const redis = new Redis(serverMode.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redis, prefix: serverMode.QUEUE_PREFIX });
    await waitForDrain(queue, LANDING_BUDGET_MS);
    await sleep(300); // ingest caches the queue depth for 250 ms

    // 2. ClickHouse goes away: accepted until the queue cap (12 jobs), then 429 with Retry-After
    await server.stop();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await post();
      statuses.push(res.status);
      if (res.status === 202) accepted += 20;
      if (res.status === 429) expect(res.headers.get('retry-after')).toBe('2');
      await sleep(30);
    }
    // The cap is checked against a depth cached for 250 ms plus this ingest's own adds, so it admits
    // exactly 12 here; allow one either way for a job the worker had already taken.
    const acceptedWhileDown = statuses.filter((s) => s === 202).length;
    expect(acceptedWhileDown).toBeGreaterThanOrEqual(11);
    expect(acceptedWhileDown).toBeLessThanOrEqual(13);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 202 || s === 429)).toBe(true);
    const ready = await fetch(`${ingest.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { clickhouse: string } }).checks.clickhouse).not.toBe('ok');
    await sleep(1500); // the worker keeps retrying meanwhile

    // 3. ClickHouse is back: everything accepted lands exactly once, raw and rollups
    server = await startQueryEndpoint(base, logger);
    const deadline2 = Date.now() + LANDING_BUDGET_MS;
    while ((await count('SELECT count() AS n FROM observability.request_logs')) < accepted) {
      if (Date.now() > deadline2) throw new Error('recovery phase did not land');
      await sleep(200);
    }
    await sleep(500);
    const raw = await count('SELECT count() AS n FROM observability.request_logs');
    const distinct = await count('SELECT uniqExact(request_id) AS n FROM observability.request_logs');
    const rollup = await count('SELECT sum(requests) AS n FROM observability.request_stats_1m');
    console.log(`clickhouse down: statuses while down ${JSON.stringify(statuses.reduce<Record<number, number>>((a, s) => ((a[s] = (a[s] ?? 0) + 1), a), {}))}; accepted ${accepted}, raw ${raw}, rollup ${rollup}`);
    expect([raw, distinct, rollup]).toEqual([accepted, accepted, accepted]);

    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    await ingest.stop();
    await queue.close();
    redis.disconnect();
    await ch.close();
    await server.stop();
  }, 4 * LANDING_BUDGET_MS);
});
