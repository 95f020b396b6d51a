import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../config/env.js';
import { cliClickHouse } from '../clickhouse/cli-client.js';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { QUEUE_NAME, type BatchJob } from '../queue/jobs.js';
import { freePort, startLocalRedis, type LocalRedis } from '../scripts/local-redis.js';
import { spawnTs, stopChild } from './child-process.js';

/**
 * The pipeline as it runs in production, on this machine: a private redis-server, the ingest
 * service and one worker (which owns the embedded engine), each its own process.
 */
export interface RunningPipeline {
  config: Config;
  ingestUrl: string;
  apiKey: string;
  ingest: ChildProcess;
  worker: ChildProcess;
  redis: LocalRedis;
  /** The bench's own Redis connection (queue depth, INFO memory). */
  redisClient: Redis;
  queue: Queue<BatchJob>;
  /** Queries through the worker's loopback query endpoint. */
  clickhouse: ClickHouseClient;
  queueDepth(): Promise<number>;
  redisMemoryBytes(): Promise<{ used: number; peak: number }>;
  /** Redis's stalls of 5 ms or more since the last call, by event (aof-fsync-always, command...): seconds with one, and the longest */
  redisStalls(): Promise<Record<string, { seconds: number; maxMs: number }>>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startPipeline(o: {
  dir: string;
  env?: Record<string, string>;
  cpuProfileDir?: string;
  /** the queue Redis's fsync policy (default: always, the one that keeps every 202) */
  redisAppendfsync?: 'always' | 'everysec';
}): Promise<RunningPipeline> {
  const redis = await startLocalRedis({ dir: join(o.dir, 'redis'), appendfsync: o.redisAppendfsync });
  const apiKey = randomBytes(16).toString('hex');
  const port = await freePort();
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    INGEST_API_KEYS: apiKey,
    QUEUE_PREFIX: 'bench',
    CLICKHOUSE_DATA_DIR: join(o.dir, 'clickhouse'),
    PORT: String(port),
    HOST: '127.0.0.1',
    QUERY_PORT: '0',
    // any free port: a bench must not collide with a pipeline (or another bench) on this machine
    INGEST_ADMIN_PORT: '0',
    WORKER_ADMIN_PORT: '0',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    ...o.env,
  };
  const config = loadConfig(env);
  const worker = spawnTs('workers/main.ts', env, { cpuProfileDir: o.cpuProfileDir });
  const ingest = spawnTs('ingest/server.ts', env, { cpuProfileDir: o.cpuProfileDir });
  const ingestUrl = `http://127.0.0.1:${port}`;
  const redisClient = new Redis(redis.url, { maxRetriesPerRequest: null });
  // Redis records its own stalls of 5 ms or more (LATENCY HISTORY): the AOF's fsync among them,
  // which every 202 waits for (appendfsync always) and which other writers to the disk can slow.
  await redisClient.config('SET', 'latency-monitor-threshold', '5');
  const queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redisClient, prefix: config.QUEUE_PREFIX });

  /** The processes and connections, last Redis (the worker finishes what it holds first). */
  const stopProcesses = async (workerGraceMs: number) => {
    await stopChild(ingest);
    await stopChild(worker, workerGraceMs);
    await queue.close().catch(() => {});
    redisClient.disconnect();
    await redis.stop();
  };

  // Ready when ingest says Redis and ClickHouse (reported by the worker after its migrations) are up.
  // A pipeline that does not come up is taken down whole: a failed run must not leave its
  // redis-server or the other process behind.
  let clickhouse: ClickHouseClient | undefined;
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (worker.exitCode !== null) throw new Error(`worker exited with ${worker.exitCode}`);
      if (ingest.exitCode !== null) throw new Error(`ingest exited with ${ingest.exitCode}`);
      const ok = await fetch(`${ingestUrl}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error('pipeline not ready within 120 s');
      await sleep(200);
    }
    while (!clickhouse) {
      const c = await cliClickHouse(config).catch(() => undefined);
      if (c?.via === 'query-endpoint') clickhouse = c.client;
      else if (Date.now() > deadline) throw new Error('worker query endpoint did not answer');
      else await sleep(200);
    }
  } catch (err) {
    await stopProcesses(5_000);
    throw err;
  }

  const info = async (section: string) => Object.fromEntries((await redisClient.info(section)).split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':') as [string, string]));
  return {
    config,
    ingestUrl,
    apiKey,
    ingest,
    worker,
    redis,
    redisClient,
    queue,
    clickhouse,
    async queueDepth() {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).reduce((a, b) => a + b, 0);
    },
    async redisMemoryBytes() {
      const m = await info('memory');
      return { used: Number(m.used_memory), peak: Number(m.used_memory_peak) };
    },
    async redisStalls() {
      const events = (await redisClient.call('LATENCY', 'LATEST')) as [string, number, number, number][];
      const out: Record<string, { seconds: number; maxMs: number }> = {};
      for (const [event] of events) {
        const history = (await redisClient.call('LATENCY', 'HISTORY', event)) as [number, number][];
        out[event] = { seconds: history.length, maxMs: Math.max(0, ...history.map(([, ms]) => ms)) };
      }
      await redisClient.call('LATENCY', 'RESET');
      return out;
    },
    async stop() {
      await clickhouse!.close().catch(() => {});
      await stopProcesses(60_000);
    },
  };
}
