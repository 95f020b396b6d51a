import { z } from 'zod';
import { defaultAttributeMap, type AttributeMap, type MappedField } from '../ingest/otlp/map.js';

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
  /**
   * Redis memory (used_memory) above which ingest answers 429: what actually bounds Redis, since
   * a job holds 1 to 10,000 records. Keep it under Redis' maxmemory so Redis never refuses a write.
   */
  QUEUE_MAX_BYTES: int(512 * 1024 * 1024, 1024 * 1024),
  /** Seconds a rejected producer is told to wait (Retry-After). */
  BACKPRESSURE_RETRY_AFTER_S: int(5, 1),

  CLICKHOUSE_URL: optionalUrl,
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('observability'),
  CLICKHOUSE_DATA_DIR: z.string().min(1).default('./.data/clickhouse'),
  /**
   * Embedded mode: engine settings given when the engine opens (`name=value,name=value`), on top of
   * clickhouse/client.ts's defaults (a name given here replaces its default). Server settings
   * (background_pool_size, os_threads_nice_value_merge_mutate) can be set only then.
   */
  CLICKHOUSE_ENGINE_SETTINGS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const out: Record<string, string> = {};
      for (const pair of v.split(',').map((p) => p.trim()).filter(Boolean)) {
        const m = /^([A-Za-z_][A-Za-z0-9_.]*)=([^\s,]*)$/.exec(pair);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: `'${pair}' is not name=value` });
          return z.NEVER;
        }
        out[m[1]!] = m[2]!;
      }
      return out;
    }),
  /** Days raw rows are kept; rollups keep theirs longer. */
  RAW_TTL_DAYS: int(90, 1),

  MAX_RECORDS_PER_REQUEST: int(10_000, 1),
  MAX_BODY_BYTES: int(10 * 1024 * 1024, 1024),
  IDEMPOTENCY_TTL_S: int(24 * 3600, 60),

  /** Jobs one worker holds at once: the pool it coalesces into one insert per table. */
  WORKER_CONCURRENCY: int(256, 1),
  /** Niceness of the worker (and its embedded engine): 0 leaves it; higher yields the CPU to ingest. */
  WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
  /** Linux scheduling policy of the worker's threads (lib/priority.ts): idle, batch or other (leave it). */
  WORKER_SCHED: z.enum(['other', 'batch', 'idle']).default('other'),
  /** Flush a table's batch when it holds this many rows... */
  FLUSH_MAX_ROWS: int(50_000, 1),
  /** ...or when its oldest row has waited this long... */
  FLUSH_MAX_WAIT_MS: int(1000, 1),
  /** ...or when no new job arrived for this long (idle: don't make rows wait)... */
  FLUSH_IDLE_MS: int(100, 1),
  /**
   * ...but an idle flush comes at most this often per table (capped at FLUSH_MAX_WAIT_MS): every
   * insert costs the engine a fixed 10-40 ms (parts, materialized views, merges later), so a
   * steady stream is written about once a second while a lone batch still goes out at once.
   */
  FLUSH_MIN_INTERVAL_MS: int(1000, 0),
  /** BullMQ lock: a killed worker's jobs are taken over after about this long. */
  WORKER_LOCK_MS: int(30_000, 1000),
  /** Longest wait before a failed job is tried again (workers/retry-delay.ts); below it BullMQ's exponential backoff. */
  JOB_RETRY_MAX_DELAY_MS: int(60_000, 100),

  /** Embedded mode: loopback port where the engine-owning worker answers `npm run sql` (0 = any free port). */
  QUERY_PORT: int(8124, 0).pipe(z.number().max(65535)),
  QUERY_HOST: z.string().default('127.0.0.1'),
  /** Its password; random per start when empty (then read from the endpoint file beside the data dir). */
  QUERY_PASSWORD: z.string().default(''),
  /**
   * Admin listeners (loopback by default): /healthz and /readyz for orchestrators, /metrics for
   * Prometheus with `Authorization: Bearer ADMIN_TOKEN` (/metrics is off while ADMIN_TOKEN is unset).
   * A port of 0 picks a free one; -1 disables the listener.
   */
  ADMIN_HOST: z.string().default('127.0.0.1'),
  ADMIN_TOKEN: z.string().default(''),
  INGEST_ADMIN_PORT: z.coerce.number().int().min(-1).max(65535).default(9464),
  WORKER_ADMIN_PORT: z.coerce.number().int().min(-1).max(65535).default(9465),
  /** The worker reports unhealthy when the queue has work and no job was taken for this long. */
  LIVENESS_STALL_MS: int(120_000, 100),

  /**
   * Redaction stage (ingest/stages/redaction.ts), applied before anything is queued: `mask` replaces
   * secrets with [redacted:kind]; `hash` with a keyed HMAC so equal values still match (needs
   * REDACTION_HASH_KEY); `off` disables it. REDACTION_KEYS adds key names to the built-in list.
   */
  REDACTION_MODE: z.enum(['mask', 'hash', 'off']).default('mask'),
  REDACTION_HASH_KEY: z.string().default(''),
  REDACTION_KEYS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),

  /**
   * OpenTelemetry (OTLP/HTTP at /otlp, ingest/otlp/): where our fields come from among span and
   * log record attributes. OTLP_ATTRIBUTES remaps some, e.g. `customer_id=tenant.id,institution=bank.name`
   * (fields: link_id, external_id, institution, customer_id, error_code, error_message); the rest keep
   * their defaults (docs/schema.md, "OpenTelemetry mapping"). OTLP_REQUEST_ID_ATTRIBUTE names the
   * attribute holding request_id; empty: the span id.
   */
  OTLP_ATTRIBUTES: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const map: AttributeMap = { ...defaultAttributeMap };
      for (const pair of v.split(',').map((p) => p.trim()).filter(Boolean)) {
        const [field, attribute] = pair.split('=').map((s) => s.trim());
        if (!field || !attribute || !(field in defaultAttributeMap)) {
          ctx.addIssue({ code: 'custom', message: `'${pair}' must be field=attribute with field one of ${Object.keys(defaultAttributeMap).join(', ')}` });
          return z.NEVER;
        }
        map[field as MappedField] = attribute;
      }
      return map;
    }),
  OTLP_REQUEST_ID_ATTRIBUTE: z.string().trim().default(''),

  // Alerting (alerting/). The rule's defaults live in alerting/rule.ts; an unset ALERT_* knob keeps
  // that default. The knobs apply to the built-in evaluator; the Grafana rule is generated from rule.ts.
  /** Runs the built-in evaluator in the workers (true/false). */
  ALERTS_ENABLED: z.enum(['true', 'false', '1', '0', '']).default('false').transform((v) => v === 'true' || v === '1'),
  ALERT_EVAL_INTERVAL_S: z.coerce.number().int().min(1).optional(),
  ALERT_WINDOW_MINUTES: z.coerce.number().int().min(1).max(1440).optional(),
  ALERT_FOR_S: z.coerce.number().int().min(0).optional(),
  ALERT_MIN_REQUESTS: z.coerce.number().int().min(1).optional(),
  /** Absolute floor of the error ratio, above 0 and at most 1. */
  ALERT_ERROR_RATIO_FLOOR: z.coerce.number().gt(0).max(1).optional(),
  /** Error codes counted as errors besides status >= 500, comma-separated. */
  ALERT_ERROR_CODES: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? undefined : v.split(',').map((c) => c.trim()).filter(Boolean))),
  ALERT_BASELINE: z.enum(['previous_days', 'ewma']).optional(),
  ALERT_BASELINE_DAYS: z.coerce.number().int().min(1).max(60).optional(),
  ALERT_BASELINE_FACTOR: z.coerce.number().min(1).optional(),
  /** One alert per institution and customer instead of per institution (true/false). */
  ALERT_PER_CUSTOMER: z.enum(['true', 'false', '1', '0']).optional().transform((v) => (v === undefined ? undefined : v === 'true' || v === '1')),
  /** Re-notify a still-firing alert every N minutes; 0 never. */
  ALERT_REMINDER_MINUTES: z.coerce.number().int().min(0).optional(),
  /** Generic JSON webhook for alert notices; ALERT_WEBHOOK_SECRET adds an HMAC-SHA256 signature header. */
  ALERT_WEBHOOK_URL: optionalUrl,
  ALERT_WEBHOOK_SECRET: z.string().optional(),
  /** Prometheus Alertmanager base URL (alerts go to /api/v2/alerts). */
  ALERTMANAGER_URL: optionalUrl,
  /** Base URL of Grafana for the dashboard links in notifications. */
  GRAFANA_URL: z.string().trim().pipe(z.url()).default('http://localhost:3000'),

  // Cluster mode (clickhouse/cluster.ts, docs/scaling.md).
  /** Server mode only: the cluster (remote_servers) to create tables ON CLUSTER, Replicated and Distributed. */
  CLICKHOUSE_CLUSTER: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').optional())
    .optional(),
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
