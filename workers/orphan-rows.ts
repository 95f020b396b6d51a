import type { Redis } from 'ioredis';
import { redisKeys } from '../queue/redis-keys.js';

/**
 * A v3 job's rows are deleted when the job completes. Two rare paths leave rows without a job:
 * ingest stored them but could not add the job (Redis failed in between; the producer got a 503),
 * or a worker died between a job's completion and the delete. Such rows are deleted once their
 * job is gone and nobody has touched them for `minIdleSeconds` (an enqueue in progress stores the
 * rows a moment before its job exists).
 */
export async function sweepOrphanRows(redis: Redis, prefix: string, minIdleSeconds = 300): Promise<number> {
  const keys = redisKeys(prefix);
  const pattern = keys.rows('*');
  const idStart = keys.rows('').length;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (found.length === 0) continue;
    const checks = redis.pipeline();
    for (const key of found) {
      checks.exists(keys.job(key.slice(idStart)));
      checks.object('IDLETIME', key);
    }
    const results = (await checks.exec()) ?? [];
    const orphans = found.filter((_, i) => {
      const [jobErr, jobExists] = results[2 * i]!;
      const [idleErr, idle] = results[2 * i + 1]!;
      return !jobErr && !idleErr && jobExists === 0 && typeof idle === 'number' && idle >= minIdleSeconds;
    });
    if (orphans.length) deleted += await redis.unlink(...orphans);
  } while (cursor !== '0');
  return deleted;
}
