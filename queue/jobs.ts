import { Job, Queue, type ConnectionOptions, type IRedisTransaction, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { RecordKind, Row } from '../schema/records.js';
import { QUEUE_NAME, redisKeys } from './redis-keys.js';

export { QUEUE_NAME };

/**
 * One job per accepted HTTP batch. Versioned: within a version a new field must be optional; a new
 * version is read by workers before any ingest writes it, so upgrade workers first (docs/schema.md, "Upgrading").
 */
export interface BatchJobV1 {
  v: 1;
  kind: RecordKind;
  batch_id: string;
  /** epoch ms when ingest accepted the batch */
  received_at: number;
  rows: Row[];
}
/** Since v2 ingest writes the rows once as the insert's own text (queue/job-rows.ts); workers read both. */
export interface BatchJobV2 {
  v: 2;
  kind: RecordKind;
  batch_id: string;
  received_at: number;
  /** the insert's column list, batch_id last */
  columns: string[];
  /** JSONCompactEachRow: one JSON array per row in `columns` order, joined by '\n' */
  rows: string;
  count: number;
}
/**
 * Since v3 the rows are not in the job: they sit beside it as a plain Redis string at
 * `redisKeys(prefix).rows(jobId)` (JSONCompactEachRow, rows separated by ','). BullMQ JSON-encodes job
 * data, which escaped every quote of v2's text in ingest and parsed it back in the worker; a plain
 * string is stored, read and handed to the engine as bytes (docs/performance.md).
 */
export interface BatchJobV3 {
  v: 3;
  kind: RecordKind;
  batch_id: string;
  received_at: number;
  /** the insert's column list, batch_id last */
  columns: string[];
  count: number;
}
export type BatchJob = BatchJobV1 | BatchJobV2 | BatchJobV3;

/** A v3 job and its rows' text, as ingest queues them (queue/job-rows.ts encodeRows). */
export interface EncodedBatch {
  job: BatchJobV3;
  /** the rows' bytes, stored as they are (queue/job-rows.ts rowsBytes) */
  text: Buffer;
}

/**
 * Ingest side: the rows, then the job that points at them, sent back to back on one connection
 * (ingest's queue shares its Redis client): Redis runs them in order, so no worker can take a job
 * whose rows are not stored yet, and the enqueue costs one round trip. NX: a retried idempotent
 * batch (same id, same text) keeps the rows already stored.
 */
export async function enqueueBatch(queue: Queue<BatchJob>, redis: Redis, { job, text }: EncodedBatch, jobId: string = job.batch_id): Promise<void> {
  const [stored, added] = await Promise.allSettled([
    redis.set(redisKeys(queuePrefix(queue)).rows(jobId), text, 'NX'),
    queue.add(job.kind, job, { jobId }),
  ]);
  if (stored.status === 'rejected') {
    // A job without rows would only fail; take it back (rows stored without a job are swept).
    if (added.status === 'fulfilled') await queue.remove(jobId).catch(() => {});
    throw stored.reason;
  }
  if (added.status === 'rejected') throw added.reason;
}

/**
 * enqueueBatch() with more writes that must be stored with the batch or not at all (ingest's
 * idempotent answer), in one MULTI/EXEC: one round trip and one AOF fsync where a separate write
 * would wait for another. Without such writes the two plain commands measured faster than a
 * MULTI on this host (docs/performance.md, section 39), so enqueueBatch() stays as it is.
 */
export async function enqueueBatchWith(
  queue: Queue<BatchJob>,
  { job, text }: EncodedBatch,
  also: (tx: IRedisTransaction) => void,
  jobId: string = job.batch_id,
): Promise<void> {
  const multi = (await queue.getBackend().client).multi();
  multi.runCommand('set', [redisKeys(queuePrefix(queue)).rows(jobId), text, 'NX']);
  // the same job Queue.add would create (the queue's default options, this id), queued on the MULTI
  await new Job<BatchJob>(queue, job.kind, job, { ...queue.defaultJobOptions, jobId }, jobId).addJob(multi);
  also(multi);
  const results = await multi.exec();
  if (!results) throw new Error(`enqueue of job ${jobId}: transaction aborted`);
  for (const [err, reply] of results) {
    if (err) throw err;
    if (typeof reply === 'number' && reply < 0) throw new Error(`enqueue of job ${jobId}: BullMQ's addJob answered ${reply}`);
  }
}

export const queuePrefix = (queue: Queue) => queue.opts.prefix ?? 'bull';

export const defaultJobOptions: JobsOptions = {
  // The worker retries ClickHouse writes itself; these attempts only cover a crash loop. A built-in
  // type every worker version knows; the worker caps it (JOB_RETRY_MAX_DELAY_MS, workers/retry-delay.ts)
  // and jitter (delay x [0.5, 1]) keeps a batch's jobs from retrying in lockstep.
  attempts: 1_000_000,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  removeOnComplete: true,
  removeOnFail: { count: 10_000 },
};

/** Ingest side: a dead Redis must fail fast (503), never queue commands in memory. */
export function producerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

/** Worker side: wait for Redis forever (BullMQ requires maxRetriesPerRequest: null). */
export function workerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...extra,
  });
}

export function createIngestQueue(connection: ConnectionOptions, prefix: string): Queue<BatchJob> {
  return new Queue<BatchJob>(QUEUE_NAME, { connection, prefix, defaultJobOptions });
}
