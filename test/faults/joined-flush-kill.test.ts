import { describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/logger.js';
import { startIngest, type IngestRuntime } from '../../ingest/runtime.js';
import { createClickHouse } from '../../clickhouse/client.js';
import { QUEUE_NAME, type BatchJob } from '../../queue/jobs.js';
import { FlushManifests } from '../../workers/flush-manifests.js';
import { testConfig } from '../helpers/pipeline.js';
import { exited, spawnWorker, waitForDrain } from '../helpers/worker-process.js';
import { BatchLedger } from './batch-ledger.js';
import { startMachineLoad, type MachineLoad } from './machine-load.js';
import { faultTestDir } from './fault-dir.js';
import { logBatch } from './log-batch.js';

/**
 * The worker SIGKILLed while a flush that joined several jobs into its table's reused memory
 * (workers/block-buffer.ts) is being inserted, on a machine whose CPU and disk are busy; again and
 * again (FAULT_REPEAT kills, 3 in CI; `FAULT_REPEAT=20 npx vitest run test/faults/joined-flush-kill.test.ts`
 * by hand). The kill is aimed: it comes as soon as Redis shows such a flush recorded and not done
 * (between FlushManifests.record and markDone, which is where the join and the insert run). The
 * next worker repairs what the engine half-wrote (workers/crash-repair.ts) and the jobs re-run;
 * every 202 must land exactly once in the raw table and in every rollup.
 */
const ROUNDS = Number(process.env.FAULT_REPEAT ?? 3);
const POSTERS = 4;
const RECORDS_PER_BATCH = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Longest wait for a joined flush in flight: it includes a worker's start, over a minute under load. */
const WINDOW_MS = 240_000;
const TIMEOUT_MS = 240_000 + ROUNDS * WINDOW_MS;

let load: MachineLoad | undefined;
let worker: ChildProcess | undefined;
let ingest: IngestRuntime | undefined;
const dir = faultTestDir('obs-joined-kill-', () => ({ load, worker, ingest }));

describe('worker killed while a joined flush is being inserted, under CPU and disk load', () => {
  it(`keeps every accepted batch exactly once in ${ROUNDS} kills`, async () => {
    // A flush joins the jobs that came within its idle wait, and the backlog a restarted worker finds
    // (hundreds of jobs) joins into its first flushes. The lock is long enough for a niced worker on
    // a loaded machine to renew it: with 2 s, it lost its locks before every flush (each refused
    // before being recorded, workers/batch-writer.ts keepLocked) and no flush was ever in flight to kill.
    const config = testConfig({ WORKER_LOCK_MS: '10000', FLUSH_IDLE_MS: '30', FLUSH_MAX_WAIT_MS: '300' });
    const logger = createLogger('test', 'silent');
    load = startMachineLoad({ dir, busyLoops: 2, maxMs: TIMEOUT_MS });
    ingest = await startIngest(config, logger);
    const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redis, prefix: config.QUEUE_PREFIX });
    const manifests = new FlushManifests(redis, config.QUEUE_PREFIX);

    const ledger = new BatchLedger();
    const t0 = Date.parse('2026-11-20T10:00:00Z');
    let seq = 0;
    let posting = true;
    let refused = 0;
    const poster = async () => {
      while (posting) {
        const n = seq++;
        const records = logBatch('j', n, RECORDS_PER_BATCH, t0);
        const res = await fetch(`${ingest!.url}/v1/logs`, {
          method: 'POST',
          headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
          body: JSON.stringify(records),
        }).catch(() => undefined);
        // only a 202 is a promise; anything else (a reset under load) is counted and not retried
        if (res?.status === 202) ledger.accept(((await res.json()) as { batch_id: string }).batch_id, records.length);
        else {
          refused++;
          await res?.body?.cancel();
        }
        await sleep(100);
      }
    };
    const posters = Array.from({ length: POSTERS }, poster);

    // Each kill: how many jobs the flush in flight had joined (0: the kill missed the window).
    const joinedAtKill: number[] = [];
    // flushes a kill left open: the next worker repairs them at start; only a new one is a target
    let killedOpen = new Set<string>();
    worker = spawnWorker(config);
    /** The most jobs joined by a flush recorded and not done, leaving out those an earlier kill left. */
    const joinedOpen = async () => Math.max(0, ...(await manifests.openFlushes()).filter((f) => !killedOpen.has(f.flushId)).map((f) => f.manifest?.jobIds.length ?? 0));
    for (let round = 1; round <= ROUNDS; round++) {
      // the wait includes the worker's start: tens of seconds on a loaded machine (tsx, the engine, crash repair)
      for (const until = Date.now() + WINDOW_MS; Date.now() < until && (await joinedOpen()) < 2; ) await sleep(1);
      worker.kill('SIGKILL');
      await exited(worker);
      // Still open after the kill: the insert had not finished (else markDone would have closed it).
      joinedAtKill.push(await joinedOpen());
      killedOpen = new Set((await manifests.openFlushes()).map((f) => f.flushId));
      console.log(`kill ${round}: a flush of ${joinedAtKill.at(-1)} jobs left open; ${ledger.accepted.size} batches accepted so far`);
      worker = spawnWorker(config);
      await sleep(300 + Math.random() * 700);
    }
    posting = false;
    await Promise.all(posters);

    await waitForDrain(queue, 240_000);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    load.stop();
    const leftOpen = (await manifests.openFlushes()).length;
    await queue.close();
    redis.disconnect();

    const ch = createClickHouse(config);
    const db = config.CLICKHOUSE_DATABASE;
    const landed = await BatchLedger.landed(ch, `${db}.request_logs`);
    const one = async (sql: string) => Number(Object.values((await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>())[0]!)[0]);
    const rollups = {
      request_stats_1m: await one(`SELECT sum(requests) FROM ${db}.request_stats_1m`),
      request_status_1m: await one(`SELECT sum(requests) FROM ${db}.request_status_1m`),
      link_activity: await one(`SELECT sum(requests) FROM ${db}.link_activity`),
      link_activity_lookup: await one(`SELECT sum(requests) FROM ${db}.link_activity_lookup`),
    };
    await ch.close();

    const { missing, duplicated } = ledger.discrepancies(landed);
    const hits = joinedAtKill.filter((n) => n >= 2).length;
    console.log(
      `joined flush kill under load: ${ROUNDS} kills, ${hits} with a joined flush still open (jobs joined: ${joinedAtKill.join(', ')}); ` +
        `${ledger.accepted.size} batches accepted (${ledger.records} records), ${refused} refused or unanswered; missing ${missing.length}, duplicated ${duplicated.length}; rollups ${JSON.stringify(rollups)}`,
    );
    expect({ missing, duplicated }).toEqual({ missing: [], duplicated: [] });
    expect(rollups).toEqual({
      request_stats_1m: ledger.records,
      request_status_1m: ledger.records,
      link_activity: ledger.records,
      link_activity_lookup: ledger.records,
    });
    expect(leftOpen).toBe(0);
    // the path under test was hit: at least one kill interrupted a joined flush's insert
    expect(hits).toBeGreaterThan(0);
  }, TIMEOUT_MS);
});
