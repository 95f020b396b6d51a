import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/logger.js';
import { startIngest, type IngestRuntime } from '../../ingest/runtime.js';
import { startWorkerRuntime, type WorkerRuntime } from '../../workers/runtime.js';
import { freePort, startLocalRedis, type LocalRedis } from '../../scripts/local-redis.js';
import { testConfig } from '../helpers/pipeline.js';
import { ALL_JOB_STATES, BatchLedger } from './batch-ledger.js';
import { startMachineLoad, type MachineLoad } from './machine-load.js';

/**
 * The loss on purpose: Redis is SIGKILLed while batches are being posted, on a machine
 * whose CPU and disk are busy, then restarted from its AOF; again and again (FAULT_REPEAT rounds,
 * 3 in CI; `FAULT_REPEAT=20 npx vitest run test/faults/redis-kill-loaded.test.ts` by hand). The
 * worker runs throughout, as in production. Every batch that got a 202 must land exactly once.
 * FAULT_REDIS_APPENDFSYNC=everysec runs it against the old setting, to see the loss again.
 */
const ROUNDS = Number(process.env.FAULT_REPEAT ?? 3);
const APPENDFSYNC = process.env.FAULT_REDIS_APPENDFSYNC === 'everysec' ? 'everysec' : undefined;
const POSTERS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let load: MachineLoad | undefined;
let redis: LocalRedis | undefined;
let ingest: IngestRuntime | undefined;
let worker: WorkerRuntime | undefined;
const dir = mkdtempSync(join(tmpdir(), 'obs-redis-loaded-'));
afterAll(async () => {
  load?.stop();
  await ingest?.stop();
  await worker?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis killed again and again under CPU and disk load', () => {
  it(`loses no 202 in ${ROUNDS} kills`, async () => {
    const redisDir = join(dir, 'redis');
    mkdirSync(redisDir);
    const port = await freePort();
    redis = await startLocalRedis({ dir: redisDir, port, appendfsync: APPENDFSYNC });
    const config = testConfig({ REDIS_URL: redis.url, FLUSH_IDLE_MS: '20', WORKER_LOCK_MS: '5000' });
    const logger = createLogger('test', 'silent');
    load = startMachineLoad({ dir, busyLoops: 2, maxMs: 30_000 + ROUNDS * 10_000 });
    worker = await startWorkerRuntime(config, logger);
    ingest = await startIngest(config, logger);
    const url = `${ingest.url}/v1/logs`;

    const ledger = new BatchLedger();
    const roundOf = new Map<string, number>();
    let round = 0;
    let seq = 0;
    let refused = 0;
    let posting = true;
    const poster = async () => {
      while (posting) {
        const n = seq++;
        const records = Array.from({ length: 10 }, (_, i) => ({
          request_id: `lk${n}-${i}`,
          timestamp: Date.UTC(2026, 10, 20) + n * 10 + i,
          method: 'GET',
          endpoint: '/api/balances/',
          status_code: 200,
        }));
        const res = await fetch(url, {
          method: 'POST',
          headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
          body: JSON.stringify(records),
        }).catch(() => undefined);
        if (res?.status === 202) {
          const { batch_id } = (await res.json()) as { batch_id: string };
          ledger.accept(batch_id, records.length);
          roundOf.set(batch_id, round);
        } else {
          refused++;
          await res?.body?.cancel();
          await sleep(50);
        }
      }
    };
    const posters = Array.from({ length: POSTERS }, poster);

    // Redis's own view of its AOF fsyncs while it runs (INFO persistence, Redis 7.0). With everysec,
    // Redis postpones writing its AOF buffer while a background fsync is pending, and still replies
    // (flushAppendOnlyFile in src/aof.c); aof_delayed_fsync only counts postponements over 2 s.
    const aofStats = { samples: 0, fsyncPending: 0, delayedFsync: 0 };
    const sampleAof = async (url: string) => {
      const probe = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      probe.on('error', () => {});
      let delayed = 0; // a counter per Redis run
      try {
        await probe.connect();
        for (;;) {
          const info = await probe.info('persistence');
          const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
          aofStats.samples++;
          if (field('aof_pending_bio_fsync') > 0) aofStats.fsyncPending++;
          delayed = field('aof_delayed_fsync');
          await sleep(5);
        }
      } catch {
        // Redis was killed: this sampler ends with it
      } finally {
        aofStats.delayedFsync += delayed;
        probe.disconnect();
      }
    };

    for (round = 1; round <= ROUNDS; round++) {
      void sampleAof(redis.url);
      await sleep(300 + Math.random() * 700);
      // kill -9 with requests in flight
      redis.process.kill('SIGKILL');
      await new Promise((r) => redis!.process.once('exit', r));
      await sleep(200);
      redis = await startLocalRedis({ dir: redisDir, port, appendfsync: APPENDFSYNC });
    }
    // a last stretch of accepted batches after the last restart
    const before = ledger.accepted.size;
    for (let i = 0; ledger.accepted.size < before + 20; i++) {
      if (i > 300) throw new Error('ingest never accepted again after the last restart');
      await sleep(50);
    }
    posting = false;
    await Promise.all(posters);
    load.stop();

    const clickhouse = worker.clickhouse;
    const landed = await ledger.waitForLanding(worker.queue, clickhouse, 'observability.request_logs', 90_000);
    const { missing, duplicated } = ledger.discrepancies(landed);
    const counts = await worker.queue.getJobCounts(...ALL_JOB_STATES);
    const lostRounds = new Set(missing.map((id) => roundOf.get(id)));
    console.log(
      `redis kill under load (appendfsync ${APPENDFSYNC ?? 'always'}): ${ROUNDS} kills, ${ledger.accepted.size} batches accepted (${ledger.records} records), ${refused} refused or unanswered; ` +
        `missing ${missing.length} batches in ${lostRounds.size} of ${ROUNDS} rounds, duplicated ${duplicated.length}; job counts ${JSON.stringify(counts)}; ` +
        `INFO persistence sampled ${aofStats.samples} times: a background fsync pending in ${aofStats.fsyncPending}, aof_delayed_fsync ${aofStats.delayedFsync} over all runs`,
    );
    if (missing.length) {
      const redisClient = new Redis(redis.url);
      const lines = await ledger.explain(missing, { queue: worker.queue, redis: redisClient, prefix: config.QUEUE_PREFIX, redisDir, landed });
      redisClient.disconnect();
      console.log(lines.map((l) => `  lost in round ${roundOf.get(l.slice(0, l.indexOf(':')))}: ${l}`).join('\n'));
    }
    expect({ missing, duplicated }).toEqual({ missing: [], duplicated: [] });
  }, 60_000 + ROUNDS * 15_000);
});
