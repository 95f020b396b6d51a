import type { Redis } from 'ioredis';
import { redisKeys, type RedisKeys } from '../queue/redis-keys.js';

/**
 * Which jobs went into which insert. Written to Redis *before* the insert, so a job re-run after a
 * crash (BullMQ is at-least-once) rebuilds exactly the same block under the same deduplication
 * token instead of joining a different one and being written twice.
 *
 *   {p}:job-flush:<jobId>  -> flush id, or SPLIT when the job is written on its own (poison isolation)
 *   {p}:flush:<flushId>    -> JSON manifest {table, kind, jobIds}
 *   {p}:flush-done:<id>    -> set once the insert is in ClickHouse
 *   {p}:open-flushes       -> flushes recorded but not done (what a crashed embedded engine may have half-written)
 * (the names: queue/redis-keys.ts)
 */
export interface Manifest {
  table: string;
  kind: string;
  jobIds: string[];
}

export const SPLIT = 'split';

// KEYS: flush manifest, open set, job keys...; ARGV: manifest JSON, flush id, ttl seconds
const RECORD_IF_UNCLAIMED = `
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[3])
end
return 1`;
const TTL_S = 24 * 3600;
const BATCH_DONE_TTL_S = 24 * 3600;

export class FlushManifests {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = redisKeys(prefix);
  }

  /**
   * Records a flush, atomically and only if none of its jobs belongs to another flush already:
   * a worker that froze past its lock must not write jobs another worker has taken over.
   * Returns false (and records nothing) in that case.
   */
  async record(flushId: string, manifest: Manifest): Promise<boolean> {
    const keys = [this.keys.flush(flushId), this.keys.openFlushes(), ...manifest.jobIds.map((id) => this.keys.jobFlush(id))];
    const ok = await this.redis.eval(RECORD_IF_UNCLAIMED, keys.length, ...keys, JSON.stringify(manifest), flushId, String(TTL_S));
    return ok === 1;
  }

  async markSplit(jobIds: string[]): Promise<void> {
    const m = this.redis.multi();
    for (const id of jobIds) m.set(this.keys.jobFlush(id), SPLIT, 'EX', TTL_S);
    await m.exec();
  }

  /** After the insert: the flush is done, and idempotent batches are marked written for ingest. */
  async markDone(flushId: string, batchIds: string[]): Promise<void> {
    const m = this.redis.multi().set(this.keys.flushDone(flushId), '1', 'EX', TTL_S).srem(this.keys.openFlushes(), flushId);
    for (const b of batchIds) if (b.startsWith('idem-')) m.set(this.keys.batchDone(b), '1', 'EX', BATCH_DONE_TTL_S);
    await m.exec();
  }

  async markBatchesWritten(batchIds: string[]): Promise<void> {
    const idem = batchIds.filter((b) => b.startsWith('idem-'));
    if (idem.length === 0) return;
    const m = this.redis.multi();
    for (const b of idem) m.set(this.keys.batchDone(b), '1', 'EX', BATCH_DONE_TTL_S);
    await m.exec();
  }

  /** True when an idempotent batch (id from an Idempotency-Key) is already in ClickHouse. */
  async batchWritten(batchId: string): Promise<boolean> {
    if (!batchId.startsWith('idem-')) return false;
    return (await this.redis.exists(this.keys.batchDone(batchId))) === 1;
  }

  /** What an earlier run decided for this job: null (nothing), SPLIT, or a flush and whether it is done. */
  async lookup(jobId: string): Promise<null | typeof SPLIT | { flushId: string; manifest: Manifest | null; done: boolean }> {
    const flushId = await this.redis.get(this.keys.jobFlush(jobId));
    if (flushId === null) return null;
    if (flushId === SPLIT) return SPLIT;
    const [manifest, done] = await Promise.all([this.redis.get(this.keys.flush(flushId)), this.redis.exists(this.keys.flushDone(flushId))]);
    return { flushId, manifest: manifest ? (JSON.parse(manifest) as Manifest) : null, done: done === 1 };
  }

  /** Flushes recorded and never marked done, with their manifests (null when expired). */
  async openFlushes(): Promise<{ flushId: string; manifest: Manifest | null }[]> {
    const ids = await this.redis.smembers(this.keys.openFlushes());
    if (ids.length === 0) return [];
    const manifests = await this.redis.mget(...ids.map((id) => this.keys.flush(id)));
    return ids.map((flushId, i) => ({ flushId, manifest: manifests[i] ? (JSON.parse(manifests[i]!) as Manifest) : null }));
  }

  async dropOpen(flushId: string): Promise<void> {
    await this.redis.srem(this.keys.openFlushes(), flushId);
  }

  /** Once every job of a flush has completed, its bookkeeping can go. */
  async forget(flushId: string | null, jobIds: string[]): Promise<void> {
    const keys = jobIds.map((id) => this.keys.jobFlush(id));
    if (flushId) keys.push(this.keys.flush(flushId), this.keys.flushDone(flushId));
    if (keys.length) await this.redis.del(...keys);
  }
}
