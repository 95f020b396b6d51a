import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * What the queue's Redis must be set to for a 202 to survive a crash of Redis (kill -9, OOM kill)
 * and a power loss: every acknowledged write fsynced to the AOF before Redis replies, and nothing
 * evicted. `scripts/local-redis.ts` and `deploy/redis/redis.conf` start Redis this way; a Redis
 * given by REDIS_URL is checked at start-up (docs/performance.md, section 28).
 */
export const DURABLE_REDIS = { appendonly: 'yes', appendfsync: 'always', 'maxmemory-policy': 'noeviction' } as const;

type Setting = keyof typeof DURABLE_REDIS;
const WHY: Record<Setting, (value: string) => string> = {
  appendonly: () => 'a restart of Redis loses every queued batch',
  appendfsync: (v) =>
    v === 'everysec'
      ? 'kill -9 or a crash of Redis can lose batches acknowledged in the last ~2 s (Redis may postpone writing its AOF buffer while a background fsync runs), a power loss those of the last ~2 s'
      : 'a crash of the machine can lose every batch acknowledged since the kernel last wrote the AOF (about 30 s)',
  'maxmemory-policy': () => 'a full Redis evicts queued batches instead of refusing new ones',
};

/** The settings that break the promise, each with what it costs; empty when all is well. */
export function persistenceProblems(settings: Partial<Record<Setting, string>>): string[] {
  return (Object.keys(DURABLE_REDIS) as Setting[])
    .filter((k) => settings[k] !== undefined && settings[k] !== DURABLE_REDIS[k])
    .map((k) => `${k} ${settings[k]} (needs ${DURABLE_REDIS[k]}): ${WHY[k](settings[k]!)}`);
}

/**
 * The Redis's persistence settings. CONFIG is often disabled or renamed on managed Redis; then
 * INFO still tells whether the AOF is on and the eviction policy, but not the fsync policy.
 */
export async function readPersistence(redis: Redis): Promise<{ settings: Partial<Record<Setting, string>>; unknown: Setting[]; via: string }> {
  try {
    const settings: Partial<Record<Setting, string>> = {};
    for (const k of Object.keys(DURABLE_REDIS) as Setting[]) {
      const reply = (await redis.call('CONFIG', 'GET', k)) as string[];
      if (reply.length >= 2) settings[k] = reply[1]!;
    }
    return { settings, unknown: (Object.keys(DURABLE_REDIS) as Setting[]).filter((k) => settings[k] === undefined), via: 'CONFIG GET' };
  } catch (err) {
    const info = `${await redis.info('persistence')}\n${await redis.info('memory')}`;
    const field = (name: string) => new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info)?.[1];
    const aof = field('aof_enabled');
    const policy = field('maxmemory_policy');
    const settings: Partial<Record<Setting, string>> = {};
    if (aof !== undefined) settings.appendonly = aof === '1' ? 'yes' : 'no';
    if (policy !== undefined) settings['maxmemory-policy'] = policy;
    const unknown = (Object.keys(DURABLE_REDIS) as Setting[]).filter((k) => settings[k] === undefined);
    return { settings, unknown, via: `INFO (CONFIG GET refused: ${(err as Error).message})` };
  }
}

/**
 * Logs one warning when the queue's Redis cannot keep the promise of a 202 (or when its settings
 * cannot be read), once per process, when the connection is first ready. Never throws: a Redis
 * that is down at start-up is the connection's business, not this check's.
 */
export function warnIfRedisNotDurable(redis: Redis, logger: Logger): void {
  const check = async () => {
    const { settings, unknown, via } = await readPersistence(redis);
    const problems = persistenceProblems(settings);
    if (problems.length === 0 && unknown.length === 0) return;
    logger.warn(
      { problems, unread: unknown, read_via: via, needs: DURABLE_REDIS },
      problems.length
        ? `Redis cannot keep the promise of a 202 (${problems.join('; ')}); see deploy/redis/redis.conf`
        : `could not read Redis's ${unknown.join(', ')}: a 202 survives a Redis crash only with ${Object.entries(DURABLE_REDIS).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
  };
  const run = () => void check().catch((err: Error) => logger.warn({ err: err.message }, 'could not check Redis persistence settings'));
  if (redis.status === 'ready') run();
  else redis.once('ready', run);
}
