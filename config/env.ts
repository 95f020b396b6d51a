import { z } from 'zod';

/**
 * Every setting the processes read, validated once at start-up.
 * Keys are environment variable names; docker-compose and the README are checked against this list.
 */
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();

export const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  PORT: int(8080, 0).pipe(z.number().max(65535)),
  HOST: z.string().default('0.0.0.0'),
  INGEST_API_KEYS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),

  REDIS_URL: optionalUrl,
  /** Prefix of every BullMQ key; wrap in {braces} to hash-tag it for Redis Cluster. */
  QUEUE_PREFIX: z.string().min(1).default('obs'),
  /** Jobs waiting in the queue above which ingest answers 429 (backpressure). */
  QUEUE_MAX_JOBS: int(20_000, 1),
  /** Seconds a rejected producer is told to wait (Retry-After). */
  BACKPRESSURE_RETRY_AFTER_S: int(5, 1),

  CLICKHOUSE_URL: optionalUrl,
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('observability'),
  CLICKHOUSE_DATA_DIR: z.string().min(1).default('./.data/clickhouse'),
  /** Days raw rows are kept; rollups keep theirs longer. */
  RAW_TTL_DAYS: int(90, 1),

  MAX_RECORDS_PER_REQUEST: int(10_000, 1),
  MAX_BODY_BYTES: int(10 * 1024 * 1024, 1024),
  IDEMPOTENCY_TTL_S: int(24 * 3600, 60),

  /** Jobs one worker holds at once: the pool it coalesces into one insert per table. */
  WORKER_CONCURRENCY: int(64, 1),
  /** Flush a table's batch when it holds this many rows... */
  FLUSH_MAX_ROWS: int(50_000, 1),
  /** ...or when its oldest row has waited this long... */
  FLUSH_MAX_WAIT_MS: int(1000, 1),
  /** ...or when no new job arrived for this long (idle: don't make rows wait). */
  FLUSH_IDLE_MS: int(100, 1),
  /** BullMQ lock: a killed worker's jobs are taken over after about this long. */
  WORKER_LOCK_MS: int(30_000, 1000),

  /** Embedded mode: loopback port where the engine-owning worker answers `npm run sql` (0 = any free port). */
  QUERY_PORT: int(8124, 0).pipe(z.number().max(65535)),
  QUERY_HOST: z.string().default('127.0.0.1'),
  /** Worker health endpoint (liveness/readiness), loopback. 0 disables. */
  WORKER_HEALTH_PORT: int(0, 0).pipe(z.number().max(65535)),
});

export type Config = z.infer<typeof envSchema>;
export const configKeys = Object.keys(envSchema.shape) as (keyof Config)[];

export class ConfigError extends Error {}

/** Parses the environment; a bad value throws one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? '?');
    throw new ConfigError(`invalid configuration: ${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}`);
  }
  return parsed.data;
}

/** For entry points: load the config or exit with the one-line reason. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
