import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { IRedisTransaction, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import { recordKinds, kindNames, type RecordKind } from '../schema/records.js';
import { enqueueBatch, enqueueBatchWith, type BatchJob } from '../queue/jobs.js';
import { ApiError, sendError } from './errors.js';
import { ApiKeys } from './auth.js';
import { Idempotency, type StoredResponse } from './idempotency.js';
import type { IngestMetrics } from './metrics.js';
import type { Stage } from './stages.js';
import { prepareBatch, type PrepareInput, type Prepared } from './prepare.js';
import { otlpRouter } from './otlp/route.js';
import { RequestTiming } from './request-timing.js';
import { defaultAttributeMap } from './otlp/map.js';

export interface IngestDeps {
  config: Pick<
    Config,
    | 'INGEST_API_KEYS'
    | 'MAX_BODY_BYTES'
    | 'MAX_RECORDS_PER_REQUEST'
    | 'QUEUE_MAX_JOBS'
    | 'QUEUE_MAX_BYTES'
    | 'QUEUE_PREFIX'
    | 'BACKPRESSURE_RETRY_AFTER_S'
    | 'IDEMPOTENCY_TTL_S'
  > &
    Partial<Pick<Config, 'OTLP_ATTRIBUTES' | 'OTLP_REQUEST_ID_ATTRIBUTE'>>;
  queue: Queue<BatchJob>;
  redis: Redis;
  /** Resolves to null when ClickHouse is reachable, else to the reason. */
  checkClickHouse: () => Promise<string | null>;
  logger?: Logger;
  metrics?: IngestMetrics;
  /** Run in order on each valid record before it is queued (ingest/stages.ts). */
  stages?: readonly Stage[];
}

const REDIS_TIMEOUT_MS = 3000;

/** An Idempotency-Key request's part in the enqueue. */
interface EnqueueIdempotency {
  /** the batch was written already (looked up with the claim): queue nothing */
  written: boolean;
  /** stores the response: on the enqueue's transaction when given one, else on its own */
  store: (response: StoredResponse, tx?: IRedisTransaction) => void | Promise<unknown>;
}
const DEPTH_CACHE_MS = 250;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function createIngestApp(deps: IngestDeps) {
  const { config, queue, redis } = deps;
  const stages = deps.stages ?? [];
  const keys = new ApiKeys(config.INGEST_API_KEYS);
  const idempotency = new Idempotency(redis, config.QUEUE_PREFIX, config.IDEMPOTENCY_TTL_S);

  /** Fails fast when Redis is down; allows a moment for a connection that is being (re)made. */
  const redisUp = async () => {
    if (redis.status === 'ready') return;
    if (redis.status === 'connecting' || redis.status === 'connect' || redis.status === 'reconnecting') {
      const ready = await withTimeout(new Promise((r) => redis.once('ready', r)), 500, 'redis connect').then(
        () => true,
        () => false,
      );
      if (ready) return;
    }
    throw new ApiError('unavailable', 'the queue (Redis) is unreachable; retry later', {}, { 'Retry-After': '5' });
  };
  const redisCall = async <T>(p: Promise<T>, what: string): Promise<T> => {
    try {
      return await withTimeout(p, REDIS_TIMEOUT_MS, what);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      deps.logger?.warn({ err: (err as Error).message }, `redis: ${what} failed`);
      throw new ApiError('unavailable', 'the queue (Redis) is unreachable; retry later', {}, { 'Retry-After': '5' });
    }
  };

  /**
   * A Redis reading for the queue cap, cached for DEPTH_CACHE_MS so a burst of requests costs one
   * round trip. A request that finds it stale waits for a fresh one; past half that age a request
   * refreshes it in the background, so under steady traffic no request waits for it.
   */
  function cachedReading(read: () => Promise<number>, what: string) {
    let value = 0;
    let at = 0;
    let refreshing: Promise<number> | undefined;
    const refresh = () =>
      (refreshing ??= redisCall(read(), what)
        .then((v) => {
          value = v;
          at = Date.now();
          return v;
        })
        .finally(() => {
          refreshing = undefined;
        }));
    return {
      async get(): Promise<number> {
        const age = Date.now() - at;
        if (age > DEPTH_CACHE_MS) return refresh();
        if (age > DEPTH_CACHE_MS / 2) refresh().catch(() => {});
        return value;
      },
      add(n: number) {
        value += n;
      },
    };
  }
  /** Jobs not yet written. */
  const depth = cachedReading(async () => {
    const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }, 'queue depth');
  /** Redis memory in use: a job's size varies 1000-fold, so the cap that bounds Redis is in bytes. */
  const memory = cachedReading(async () => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? 0), 'redis memory');

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (deps.metrics) app.use(deps.metrics.middleware);

  app.use((req, res, next) => {
    res.locals.arrivedAt = performance.now();
    const incoming = req.get('X-Request-Id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID().replace(/-/g, '');
    res.setHeader('X-Request-Id', requestId);
    if (deps.logger?.isLevelEnabled('debug')) {
      const t0 = performance.now();
      // one access line per request, with its id; never headers (they carry the API key)
      res.on('finish', () =>
        deps.logger!.debug({ request_id: requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - t0) }, 'request'),
      );
    }
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const [redisErr, chErr] = await Promise.all([
      withTimeout(redis.ping(), REDIS_TIMEOUT_MS, 'redis ping').then(
        () => null,
        (e: Error) => e.message,
      ),
      withTimeout(deps.checkClickHouse(), REDIS_TIMEOUT_MS, 'clickhouse check').catch((e: Error) => e.message),
    ]);
    const body = { redis: redisErr ?? 'ok', clickhouse: chErr ?? 'ok' };
    if (redisErr || chErr) {
      sendError(res, new ApiError('unavailable', 'not ready', { checks: body }));
      return;
    }
    res.json({ status: 'ready', checks: body });
  });

  const rawBody = express.raw({ type: () => true, limit: config.MAX_BODY_BYTES });

  for (const kind of kindNames) {
    app.post(recordKinds[kind].path, authenticate, rawBody, (req, res, next) => {
      handleBatch(kind, req, res).catch(next);
    });
  }

  // OpenTelemetry exporters (OTLP/HTTP): their items take the same stages, backpressure and queue.
  app.use(
    otlpRouter({
      maxBodyBytes: config.MAX_BODY_BYTES,
      maxRecordsPerRequest: config.MAX_RECORDS_PER_REQUEST,
      mapping: { attributes: config.OTLP_ATTRIBUTES ?? defaultAttributeMap, requestIdAttribute: config.OTLP_REQUEST_ID_ATTRIBUTE },
      stages,
      idempotency,
      identify: (authorization) => keys.identify(authorization),
      redisUp,
      enqueue,
      metrics: deps.metrics,
      logger: deps.logger,
    }),
  );

  function authenticate(req: Request, res: Response, next: NextFunction) {
    const keyId = keys.identify(req.get('Authorization'));
    if (!keyId) {
      sendError(res, new ApiError('unauthorized', 'missing or invalid API key: send Authorization: Bearer <key>'));
      return;
    }
    res.locals.apiKeyId = keyId;
    next();
  }

  async function handleBatch(kind: RecordKind, req: Request, res: Response) {
    const apiKeyId = res.locals.apiKeyId as string;
    const timing = new RequestTiming(res.locals.arrivedAt as number);
    timing.mark('body');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const idemKey = req.get('Idempotency-Key');
    const batchId = idemKey !== undefined ? idempotency.batchIdFor(apiKeyId, idemKey) : randomUUID();
    const input: PrepareInput = { kind, body, contentType: req.get('Content-Type'), apiKeyId, batchId, receivedAt: Date.now() };
    // Parse, validate and encode first: that needs neither Redis nor the idempotency claim.
    const prepared = prepareBatch(input, config.MAX_RECORDS_PER_REQUEST, stages);
    timing.mark('prepare');

    await redisUp();
    let idem: EnqueueIdempotency | undefined;
    if (idemKey !== undefined) {
      // Each round trip waits for Redis's AOF fsync (appendfsync always): the claim carries the
      // batch lookup, and the answer is stored in the enqueue's transaction (docs/performance.md, section 39).
      const { replay, written } = await timing.wait('claim', redisCall(idempotency.claimAndLookup(apiKeyId, idemKey, body, batchId), 'idempotency claim'));
      if (replay) {
        res.setHeader('Idempotent-Replayed', 'true');
        sendTiming(res, timing);
        res.status(replay.status).json(replay.body);
        return;
      }
      idem = {
        written,
        store: (response, tx) =>
          tx
            ? idempotency.completeIn(tx, apiKeyId, idemKey, body, response)
            : timing.wait('store', redisCall(idempotency.complete(apiKeyId, idemKey, body, response), 'idempotency store')),
      };
    }

    try {
      const response = await enqueue(kind, prepared, batchId, idem ?? false, timing);
      sendTiming(res, timing);
      res.status(response.status).json(response.body);
    } catch (err) {
      if (idemKey !== undefined) await idempotency.release(apiKeyId, idemKey);
      throw err;
    }
  }

  /** The request's stages as its Server-Timing header and in the stage histogram. */
  function sendTiming(res: Response, timing: RequestTiming) {
    const stages = timing.stages();
    res.setHeader('Server-Timing', RequestTiming.header(stages));
    for (const [stage, ms] of stages) deps.metrics?.stages.observe(ms / 1000, { stage });
  }

  /**
   * `idempotent`: true looks up whether the batch was already written (OTLP); an object brings that
   * lookup's answer and stores the response with the batch (handleBatch).
   */
  async function enqueue(kind: RecordKind, prepared: Prepared, batchId: string, idempotent: boolean | EnqueueIdempotency, timing = new RequestTiming()): Promise<StoredResponse> {
    const { queued, rejected, stageRejected, dropped } = prepared;
    const store = typeof idempotent === 'object' ? idempotent.store : undefined;
    /** Records by outcome, once the batch's fate is known (a 429 or 503 counts none of them). */
    const count = (accepted: number) => {
      const m = deps.metrics?.records;
      if (!m) return;
      for (const [outcome, n] of [
        ['accepted', accepted],
        ['rejected_invalid', rejected.length - stageRejected],
        ['rejected_by_stage', stageRejected],
        ['dropped_by_stage', dropped],
      ] as const) {
        if (n > 0) m.inc({ endpoint: kind, outcome }, n);
      }
    };
    // Every record dropped by a stage on purpose: nothing to queue, nothing for the producer to retry.
    if (!queued && rejected.length === 0 && dropped > 0) {
      count(0);
      const response = { status: 202, body: { accepted: 0, rejected, batch_id: randomUUID() } };
      await store?.(response);
      return response;
    }
    if (!queued) {
      count(0);
      throw new ApiError('validation_error', `none of the ${rejected.length + dropped} records is valid`, { rejected });
    }

    // a cached reading: a wait only when it is stale (no request for DEPTH_CACHE_MS)
    const [jobs, bytes] = await timing.wait('limits', Promise.all([depth.get(), memory.get()]));
    if (jobs >= config.QUEUE_MAX_JOBS || bytes >= config.QUEUE_MAX_BYTES) {
      throw new ApiError(
        'backpressure',
        `the pipeline is behind (queue over its cap: ${jobs} jobs, ${Math.round(bytes / 1048576)} MiB in Redis); retry after the delay`,
        {},
        { 'Retry-After': String(config.BACKPRESSURE_RETRY_AFTER_S) },
      );
    }

    // A retried idempotent batch whose first attempt was enqueued (and maybe written) is not queued again.
    const written =
      typeof idempotent === 'object' ? idempotent.written : idempotent && (await timing.wait('lookup', redisCall(idempotency.batchAlreadyWritten(batchId), 'batch lookup')));
    const response = { status: rejected.length ? 207 : 202, body: { accepted: queued.job.count, rejected, batch_id: batchId } };
    if (!written) {
      const enqueued = store ? enqueueBatchWith(queue, queued, (tx) => void store(response, tx)) : enqueueBatch(queue, redis, queued);
      await timing.wait('enqueue', redisCall(enqueued, 'enqueue'));
      depth.add(1);
    } else await store?.(response);
    count(queued.job.count);
    return response;
  }

  app.use((_req, res) => {
    sendError(res, new ApiError('not_found', 'no such endpoint'));
  });

  // Express 5 error handler: body-parser errors and ApiErrors become the common error shape.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError) return sendError(res, err);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      return sendError(res, new ApiError('payload_too_large', `body over ${config.MAX_BODY_BYTES} bytes`, { limit_bytes: config.MAX_BODY_BYTES }));
    }
    if (e.status && e.status >= 400 && e.status < 500) {
      return sendError(res, new ApiError('validation_error', e.message ?? 'bad request', { errors: [] }));
    }
    deps.logger?.error({ err, request_id: res.getHeader('X-Request-Id') }, 'unhandled error');
    sendError(res, new ApiError('internal_error', 'internal error; the request was not accepted'));
  });

  return app;
}
