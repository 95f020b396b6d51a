import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import { createClickHouse } from '../clickhouse/client.js';
import { createIngestQueue, producerRedis } from '../queue/jobs.js';
import { redisKeys } from '../queue/redis-keys.js';
import { warnIfRedisNotDurable } from '../queue/redis-persistence.js';
import { createIngestApp } from './app.js';
import { answerClientErrors } from './client-errors.js';
import { createIngestMetrics } from './metrics.js';
import { startAdminServer } from '../lib/admin-server.js';
import { configuredStages, type Stage } from './stages.js';
import { slowParseKinds } from './prepare.js';

export interface IngestRuntime {
  server: Server;
  url: string;
  /** The admin listener (/healthz, /readyz, /metrics), unless INGEST_ADMIN_PORT is -1. */
  adminUrl?: string;
  stop(): Promise<void>;
}

/** The ingest HTTP service: validates, authenticates and enqueues. It never writes ClickHouse. */
export async function startIngest(
  config: Config,
  logger: Logger,
  options: {
    stages?: readonly Stage[];
    /** How long a client may take to send its whole request (default 30 s; tests shorten it). */
    requestTimeoutMs?: number;
  } = {},
): Promise<IngestRuntime> {
  if (!config.REDIS_URL) throw new Error('REDIS_URL is required');
  if (config.INGEST_API_KEYS.length === 0) throw new Error('INGEST_API_KEYS must list at least one key');
  for (const { kind, reason } of slowParseKinds()) {
    logger.warn({ kind, reason }, 'fast parse declined this kind: zod validates each record (~2 µs slower); see schema/fast-parse.ts');
  }
  const redis = producerRedis(config.REDIS_URL);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  warnIfRedisNotDurable(redis, logger);
  const queue = createIngestQueue(redis, config.QUEUE_PREFIX);
  queue.on('error', (err) => logger.warn({ err: err.message }, 'queue error'));

  // Server mode: ping ClickHouse ourselves. Embedded: the engine lives in the worker process,
  // which reports its health through Redis.
  const serverClient = config.CLICKHOUSE_URL ? createClickHouse(config) : undefined;
  const checkClickHouse = async (): Promise<string | null> => {
    if (serverClient) {
      const r = await serverClient.ping();
      return r.success ? null : r.error.message;
    }
    const state = await redis.get(redisKeys(config.QUEUE_PREFIX).clickhouseHealth());
    if (state === null) return 'no worker has reported ClickHouse health in the last 15 s';
    return state === 'ok' ? null : state;
  };

  const metrics = createIngestMetrics(async () => {
    const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    return Object.values(c).reduce((a, b) => a + b, 0);
  });
  const app = createIngestApp({ config, queue, redis, checkClickHouse, logger, metrics, stages: options.stages ?? configuredStages(config) });
  // Slow clients must not hold sockets forever. Node checks these timeouts every
  // connectionsCheckingInterval (30 s by default, which would let a slow request live up to twice
  // its timeout): check every second.
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const server = createServer(
    { requestTimeout, headersTimeout: Math.min(10_000, requestTimeout), connectionsCheckingInterval: Math.min(1000, requestTimeout / 2) },
    app,
  );
  server.listen(config.PORT, config.HOST);
  await new Promise<void>((res, rej) => {
    server.once('listening', res);
    server.once('error', rej);
  });
  answerClientErrors(server);
  const { port } = server.address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const url = `http://${host}:${port}`;
  logger.info({ url }, 'ingest listening');
  const admin = await startAdminServer({
    host: config.ADMIN_HOST,
    port: config.INGEST_ADMIN_PORT,
    token: config.ADMIN_TOKEN,
    routes: {
      healthz: async () => ({ ok: true, detail: {} }),
      readyz: async () => {
        const redisOk = redis.status === 'ready';
        const ch = await checkClickHouse().catch((e: Error) => e.message);
        return { ok: redisOk && ch === null, detail: { redis: redisOk ? 'ok' : redis.status, clickhouse: ch ?? 'ok' } };
      },
      metrics: () => metrics.registry.render(),
    },
  });

  let stopped = false;
  return {
    server,
    url,
    adminUrl: admin?.url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await admin?.stop();
      // Stop accepting, let in-flight requests finish (their enqueue included), then close.
      await new Promise<void>((res) => server.close(() => res()));
      server.closeAllConnections?.();
      await queue.close().catch(() => {});
      redis.disconnect();
      await serverClient?.close();
    },
  };
}
