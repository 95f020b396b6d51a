import { describe, expect, it } from 'vitest';
import { QueueKeys } from 'bullmq';
import { QUEUE_NAME, redisKeys } from '../queue/redis-keys.js';

// Keys outlive a deploy (queued jobs, their rows, idempotency answers), so their names are data:
// a renamed key strands what an older process wrote.
describe('Redis key registry', () => {
  const keys = redisKeys('obs');

  it("names a job's hash and lock as BullMQ does (its own QueueKeys), which the workers' lock check reads", () => {
    const bull = new QueueKeys('obs');
    expect(keys.job('b1')).toBe(bull.toKey(QUEUE_NAME, 'b1'));
    expect(keys.jobLock('b1')).toBe(`${bull.toKey(QUEUE_NAME, 'b1')}:lock`);
  });

  it('keeps the names already in use in deployed Redis', () => {
    expect([
      keys.rows('j'), keys.idempotency('k', 'h'), keys.batchDone('b'), keys.clickhouseHealth(),
      keys.jobFlush('j'), keys.flush('f'), keys.flushDone('f'), keys.openFlushes(),
    ]).toEqual([
      'obs:rows:j', 'obs:idem:k:h', 'obs:batch-done:b', 'obs:clickhouse-health',
      'obs:job-flush:j', 'obs:flush:f', 'obs:flush-done:f', 'obs:open-flushes',
    ]);
    expect(keys.alertRule('r')).toEqual({ instances: 'obs:alerts:r:instances', evaluatedAt: 'obs:alerts:r:evaluated_at', lock: 'obs:alerts:r:lock' });
  });

  it('gives every family its own namespace, none inside BullMQ\'s queue keys', () => {
    const families = Object.values(keys).map((k) => {
      const key = (k as (...a: string[]) => string | Record<string, string>)('x', 'y');
      return (typeof key === 'string' ? key : Object.values(key)[0]!).split(':')[1];
    });
    const ours = families.filter((f) => f !== QUEUE_NAME);
    expect(new Set(ours).size).toBe(ours.length);
  });
});
