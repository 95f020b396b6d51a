import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { IRedisTransaction } from 'bullmq';
import { ApiError } from './errors.js';
import { redisKeys, type RedisKeys } from '../queue/redis-keys.js';

/** The stored answer to a request made with an Idempotency-Key. */
export interface StoredResponse {
  status: number;
  body: unknown;
}

interface Entry {
  state: 'pending' | 'done';
  body_hash: string;
  response?: StoredResponse;
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/**
 * A pending claim expires soon, so a retry after ingest crashed mid-request is not blocked long.
 * Processing the same key twice is safe anyway: the batch id derives from the key, BullMQ keeps one
 * job per id, and a batch already written is never queued or written again.
 */
const PENDING_TTL_MS = 5_000;

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const pending = (bodyHash: string) => JSON.stringify({ state: 'pending', body_hash: bodyHash } satisfies Entry);
const done = (body: Buffer, response: StoredResponse) => JSON.stringify({ state: 'done', body_hash: sha(body), response } satisfies Entry);

function checkKey(key: string): void {
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new ApiError('validation_error', `Idempotency-Key must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, {
      errors: [{ path: 'header:Idempotency-Key', message: 'invalid length' }],
    });
  }
}

/**
 * Producers retry on timeouts; a request repeated with the same key (per API key) within the TTL
 * gets the first response back and enqueues nothing. The batch id derives from the key, so even a
 * retry after ingest died between enqueue and answer finds the batch already queued or written.
 */
export class Idempotency {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlSeconds: number,
  ) {
    this.keys = redisKeys(prefix);
  }

  private redisKey(apiKeyId: string, key: string) {
    return this.keys.idempotency(apiKeyId, sha(key));
  }

  batchIdFor(apiKeyId: string, key: string): string {
    return `idem-${sha(`${apiKeyId}\n${key}`).slice(0, 32)}`;
  }

  /** Claims the key, or returns the first response to replay. Throws 409 on a conflicting use. */
  async claim(apiKeyId: string, key: string, body: Buffer): Promise<StoredResponse | null> {
    checkKey(key);
    const bodyHash = sha(body);
    const rk = this.redisKey(apiKeyId, key);
    const ok = await this.redis.set(rk, pending(bodyHash), 'PX', PENDING_TTL_MS, 'NX');
    return ok === 'OK' ? null : this.replay(apiKeyId, key, body, rk, bodyHash);
  }

  /**
   * claim() and batchAlreadyWritten() in one round trip: both commands go in one write, so Redis
   * runs them in the same event-loop iteration and the request waits for one AOF fsync, not two.
   */
  async claimAndLookup(apiKeyId: string, key: string, body: Buffer, batchId: string): Promise<{ replay: StoredResponse | null; written: boolean }> {
    checkKey(key);
    const bodyHash = sha(body);
    const rk = this.redisKey(apiKeyId, key);
    const [claimed, lookup] = (await this.redis.pipeline().set(rk, pending(bodyHash), 'PX', PENDING_TTL_MS, 'NX').exists(this.keys.batchDone(batchId)).exec()) ?? [];
    for (const r of [claimed, lookup]) if (!r || r[0]) throw r?.[0] ?? new Error('idempotency claim: no reply');
    const written = lookup![1] === 1;
    return { replay: claimed![1] === 'OK' ? null : await this.replay(apiKeyId, key, body, rk, bodyHash), written };
  }

  private async replay(apiKeyId: string, key: string, body: Buffer, rk: string, bodyHash: string): Promise<StoredResponse | null> {
    const raw = await this.redis.get(rk);
    if (raw === null) return this.claim(apiKeyId, key, body); // expired between SET and GET
    const existing = JSON.parse(raw) as Entry;
    if (existing.body_hash !== bodyHash) {
      throw new ApiError('idempotency_conflict', 'this Idempotency-Key was already used with a different body');
    }
    if (existing.state === 'pending' || !existing.response) {
      throw new ApiError('idempotency_conflict', 'a request with this Idempotency-Key is still being processed; retry shortly', {}, {
        'Retry-After': '1',
      });
    }
    return existing.response;
  }

  async complete(apiKeyId: string, key: string, body: Buffer, response: StoredResponse): Promise<void> {
    await this.redis.set(this.redisKey(apiKeyId, key), done(body, response), 'EX', this.ttlSeconds);
  }

  /** complete() queued on a transaction (the enqueue's): the response is stored with its batch, or neither is. */
  completeIn(tx: IRedisTransaction, apiKeyId: string, key: string, body: Buffer, response: StoredResponse): void {
    tx.runCommand('set', [this.redisKey(apiKeyId, key), done(body, response), 'EX', this.ttlSeconds]);
  }

  /** Frees the key after a failure, so the producer's retry is processed afresh. */
  async release(apiKeyId: string, key: string): Promise<void> {
    await this.redis.del(this.redisKey(apiKeyId, key)).catch(() => {});
  }

  async batchAlreadyWritten(batchId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.batchDone(batchId))) === 1;
  }
}
