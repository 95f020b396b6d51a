/**
 * Every Redis key the pipeline builds, as a function of one prefix (QUEUE_PREFIX). Ingest and the
 * workers are separate processes that share some of these keys: both read the name here rather
 * than import each other's modules for it. Modelled on BullMQ's QueueKeys
 * (taskforcesh/bullmq, src/classes/queue-keys.ts): one prefix, each key named once.
 *
 * BullMQ owns `<prefix>:<queue name>:*`; the keys below sit beside its own.
 */

/** The BullMQ queue ingest fills and the workers drain. */
export const QUEUE_NAME = 'ingest';

export function redisKeys(prefix: string) {
  const job = (jobId: string) => `${prefix}:${QUEUE_NAME}:${jobId}`;
  return {
    /** BullMQ's hash for a job of the ingest queue (QueueKeys.toKey(name, jobId)). */
    job,
    /** BullMQ's lock on a job a worker holds. */
    jobLock: (jobId: string) => `${job(jobId)}:lock`,
    /** A v3 job's rows until the job completes (queue/jobs.ts). Ingest writes, a worker reads. */
    rows: (jobId: string) => `${prefix}:rows:${jobId}`,
    /** An Idempotency-Key's claim and stored answer (ingest/idempotency.ts), per API key. */
    idempotency: (apiKeyId: string, keyHash: string) => `${prefix}:idem:${apiKeyId}:${keyHash}`,
    /** Set by a worker once an idempotent batch is in ClickHouse; ingest then never re-enqueues it. */
    batchDone: (batchId: string) => `${prefix}:batch-done:${batchId}`,
    /** The workers' view of ClickHouse, which ingest's /readyz reports (workers/runtime.ts). */
    clickhouseHealth: () => `${prefix}:clickhouse-health`,
    /** Flush manifests (workers/flush-manifests.ts): a job's flush id, or SPLIT. */
    jobFlush: (jobId: string) => `${prefix}:job-flush:${jobId}`,
    /** A flush's manifest {table, kind, jobIds}. */
    flush: (flushId: string) => `${prefix}:flush:${flushId}`,
    /** Set once a flush's insert is in ClickHouse. */
    flushDone: (flushId: string) => `${prefix}:flush-done:${flushId}`,
    /** Flushes recorded and not done yet: what crash repair looks at. */
    openFlushes: () => `${prefix}:open-flushes`,
    /** An alert rule's state (alerting/evaluator.ts): its instances, last evaluation and lock. */
    alertRule: (ruleUid: string) => ({
      instances: `${prefix}:alerts:${ruleUid}:instances`,
      evaluatedAt: `${prefix}:alerts:${ruleUid}:evaluated_at`,
      lock: `${prefix}:alerts:${ruleUid}:lock`,
    }),
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
