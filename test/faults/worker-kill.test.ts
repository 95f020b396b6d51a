import { afterAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { ChildProcess } from 'node:child_process';
import { createLogger } from '../../lib/logger.js';
import { startIngest } from '../../ingest/runtime.js';
import { createClickHouse } from '../../clickhouse/client.js';
import { QUEUE_NAME, type BatchJob } from '../../queue/jobs.js';
import { FlushManifests } from '../../workers/flush-manifests.js';
import { testConfig } from '../helpers/pipeline.js';
import { exited, spawnWorker, waitForDrain } from '../helpers/worker-process.js';

/**
 * kill -9 the worker again and again while a steady stream is posted; after recovery the raw
 * tables and every rollup must hold exactly the accepted records: no loss, no duplicates.
 * Each worker is killed at a random moment after it has started writing (its first flush recorded
 * in Redis), not on a clock: on a loaded machine a worker takes tens of seconds to start, and kills
 * on a clock then only ever hit start-up (FAULT_KILLS=n for more; scripts/fault-soak.ts repeats it
 * under CPU and disk load).
 */
const KILLS = Number(process.env.FAULT_KILLS ?? 5);
const config = testConfig({ WORKER_LOCK_MS: '2000', FLUSH_IDLE_MS: '30', FLUSH_MAX_WAIT_MS: '300' });
const logger = createLogger('test', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let worker: ChildProcess | undefined;

afterAll(() => {
  worker?.kill('SIGKILL');
});

describe('worker killed with SIGKILL mid-stream', () => {
  it('keeps every accepted record exactly once in raw tables and rollups', async () => {
    const ingest = await startIngest(config, logger);
    const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redis, prefix: config.QUEUE_PREFIX });
    const accepted = { logs: 0, errors: 0, attempts: 0, delivered: 0, links: new Map<string, string>() };
    const t0 = Date.parse('2026-11-20T10:00:00Z');
    let seq = 0;

    const postBatch = async () => {
      const n = seq++;
      const logs = Array.from({ length: 40 }, (_, i) => ({
        request_id: `r${n}-${i}`,
        timestamp: t0 + n * 1000 + i,
        method: 'GET',
        endpoint: ['/api/accounts/', '/api/transactions/', '/api/links/'][i % 3],
        status_code: i % 8 === 0 ? 500 : 200,
        duration_ms: i,
        link_id: `link-${i % 13}`,
        institution: ['bank_a', 'bank_b'][n % 2],
        customer_id: 'cust',
      }));
      const attempts = Array.from({ length: 10 }, (_, i) => ({
        webhook_id: `w${n}-${i}`,
        event: 'new_transactions_available',
        type: 'TRANSACTIONS',
        link_id: `link-${i}`,
        attempt: 1,
        url: 'https://hooks.example/x',
        status_code: i % 4 === 0 ? null : 200,
        timestamp: t0 + n * 1000 + i,
      }));
      const link = {
        link_id: `link-${n % 13}`,
        status: n % 3 === 0 ? 'token_required' : 'valid',
        access_mode: 'recurrent',
        institution: 'bank_a',
        created_at: t0,
        updated_at: t0 + n * 1000,
      };
      const send = (path: string, body: unknown[]) =>
        fetch(`${ingest.url}${path}`, {
          method: 'POST',
          headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      const [a, b, c] = await Promise.all([send('/v1/logs', logs), send('/v1/webhook-attempts', attempts), send('/v1/links', [link])]);
      if (a.status === 202) {
        accepted.logs += logs.length;
        accepted.errors += logs.filter((l) => l.status_code >= 400).length;
      }
      if (b.status === 202) {
        accepted.attempts += attempts.length;
        accepted.delivered += attempts.filter((x) => x.status_code === 200).length;
      }
      if (c.status === 202) accepted.links.set(link.link_id, link.status);
      expect([a.status, b.status, c.status]).toEqual([202, 202, 202]);
    };

    // Flushes the last kill left open (the next worker repairs them first): any other open flush
    // was recorded by the worker now running, so it is consuming.
    const manifests = new FlushManifests(redis, config.QUEUE_PREFIX);
    let leftOpen = new Set<string>();
    const openNow = async () => (await manifests.openFlushes()).map((f) => f.flushId);
    const newFlush = async () => (await openNow()).some((id) => !leftOpen.has(id));
    let midFlushKills = 0;
    worker = spawnWorker(config);
    let kills = 0;
    const stream = (async () => {
      while (kills < KILLS) {
        await postBatch();
        await sleep(40);
      }
      for (let i = 0; i < 20; i++) await postBatch();
    })();
    while (kills < KILLS) {
      for (const until = Date.now() + 120_000; Date.now() < until && !(await newFlush()); ) await sleep(5);
      await sleep(Math.floor(Math.random() * 800));
      worker.kill('SIGKILL');
      await exited(worker);
      if (await newFlush()) midFlushKills++; // a flush recorded and not done: the kill interrupted it
      leftOpen = new Set(await openNow());
      kills++;
      worker = spawnWorker(config);
    }
    await stream;

    // let the last worker take over the stalled jobs and drain the queue
    await waitForDrain(queue, 240_000);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    await ingest.stop();
    await queue.close();
    redis.disconnect();

    const ch = createClickHouse(config);
    const one = async (sql: string) =>
      Object.values((await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>())[0]!).map(Number);
    const db = config.CLICKHOUSE_DATABASE;
    const [rawLogs, distinctLogs, rawErrors] = await one(
      `SELECT count(), uniqExact(request_id), countIf(status_code >= 500) FROM ${db}.request_logs`,
    );
    const [rollupLogs, rollupErrors] = await one(
      `SELECT sum(requests), sumIf(requests, status_code >= 500) FROM ${db}.request_stats_1m`,
    );
    const [statusLogs, statusErrors] = await one(
      `SELECT sum(requests), sumIf(requests, status_code >= 500) FROM ${db}.request_status_1m`,
    );
    const [linkActivity] = await one(`SELECT sum(requests) FROM ${db}.link_activity`);
    const [linkLookup] = await one(`SELECT sum(requests) FROM ${db}.link_activity_lookup`);
    const [rawAttempts, distinctAttempts] = await one(`SELECT count(), uniqExact(webhook_id) FROM ${db}.webhook_attempts`);
    const [rollupAttempts, rollupDelivered] = await one(
      `SELECT sum(attempts), sumIf(attempts, outcome = 'delivered') FROM ${db}.webhook_stats_1m`,
    );
    const latest = await (
      await ch.query({ query: `SELECT link_id, argMax(status, updated_at) AS status FROM ${db}.links_latest GROUP BY link_id`, format: 'JSONEachRow' })
    ).json<{ link_id: string; status: string }>();
    await ch.close();

    console.log(
      `fault: ${kills} SIGKILLs (${midFlushKills} left a flush open); request logs accepted ${accepted.logs}, raw ${rawLogs}, rollup ${rollupLogs}, request_status_1m ${statusLogs}, link_activity ${linkActivity}, link_activity_lookup ${linkLookup}; ` +
        `webhook attempts accepted ${accepted.attempts}, raw ${rawAttempts}, rollup ${rollupAttempts}`,
    );
    expect(kills).toBe(KILLS);
    expect(accepted.logs).toBeGreaterThan(0);
    expect([rawLogs, distinctLogs, rollupLogs, statusLogs, linkActivity, linkLookup]).toEqual(Array(6).fill(accepted.logs));
    expect([rawErrors, rollupErrors, statusErrors]).toEqual([accepted.errors, accepted.errors, accepted.errors]);
    expect([rawAttempts, distinctAttempts, rollupAttempts]).toEqual([accepted.attempts, accepted.attempts, accepted.attempts]);
    expect(rollupDelivered).toBe(accepted.delivered);
    expect(Object.fromEntries(latest.map((l) => [l.link_id, l.status]))).toEqual(Object.fromEntries(accepted.links));
  }, 240_000 + KILLS * 60_000);
});
