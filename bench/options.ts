import { DEFAULT_SLOW_HOST, parseSlowHost, type SlowHostSpec } from './slow-host.js';

const PHASES = ['express', 'middleware', 'e2e', 'engine', 'queries'] as const;
/** Phases that run only when named in --only (too long for a default run). */
const EXTRA_PHASES = ['soak'] as const;
export type Phase = (typeof PHASES)[number] | (typeof EXTRA_PHASES)[number];

/** The two modes: `--quick` (CI, about a minute, small sizes) and the full run. */
export interface BenchOptions {
  mode: 'quick' | 'full';
  phases: Set<Phase>;
  /** CPU-profile the ingest and worker processes during the end-to-end phase (node --cpu-prof). */
  profile: boolean;
  /** Extra environment for the pipeline processes (knob experiments: --env WORKER_CONCURRENCY=128). */
  pipelineEnv: Record<string, string>;
  /** Where the JSON report goes (default bench/results). */
  outDir?: string;
  poolLogs: number;
  batchSize: number;
  express: { durationMs: number; connections: number };
  /** the producer middleware's added latency: `runs` measurements of `requests` requests each */
  middleware: { requests: number; runs: number };
  e2e: {
    startRecordsPerSecond: number;
    growth: number;
    maxSteps: number;
    /** after the first step that does not keep up, this many steps bisect between it and the last that did */
    refineSteps: number;
    stepMs: number;
    /** the measured half-rate step: 60 s in a full run, so its p99 is the 40th slowest of ~4,000 requests and one stall moves it less */
    halfRateMs: number;
    /** sent at half rate before the measured `halfRateMs` and not counted */
    halfRateWarmupMs: number;
    /** the longest the half-rate step waits for the engine's merges to finish */
    settleTimeoutMs: number;
    maxInFlight: number;
    drainTimeoutMs: number;
    /** `--rate=N`: skip the ramp and measure one 'half rate' step at N records/s (knob experiments) */
    fixedRecordsPerSecond?: number;
    /**
     * `--idempotency-keys`: every request carries its own Idempotency-Key, as the producer SDK sends
     * (producer/ingest-client.ts): ingest then claims the key and stores its answer with the batch
     * (2 Redis round trips, each waiting for an AOF fsync, against 1). Off by default, as issue 23's
     * figures were taken.
     */
    idempotencyKeys?: boolean;
  };
  engine: { blockRows: number; smallBlockRows: number; rowsPerRun: number; repetitions: number; mergeQuietMs: number };
  /** `--only=soak`: a steady rate held for `minutes` (`--soak-minutes=N`), reported minute by minute */
  soak: { minutes: number; recordsPerSecond: number; maxInFlight: number; drainTimeoutMs: number };
  /** the queue Redis's fsync policy (`--redis-appendfsync=everysec` only to measure what `always` costs) */
  redisAppendfsync: 'always' | 'everysec';
  queries: { sizes: number[]; repetitions: number };
  /** `--slow-host[=load:N|quota:F]`: a host slowed on purpose for every measured phase (bench/slow-host.ts) */
  slowHost?: SlowHostSpec;
}


export function parseOptions(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const phases = new Set<Phase>(only ? (only.split(',') as Phase[]) : PHASES);
  const known: readonly string[] = [...PHASES, ...EXTRA_PHASES];
  for (const p of phases) if (!known.includes(p)) throw new Error(`unknown phase ${p}; phases: ${known.join(', ')}`);
  const appendfsync = (argv.find((a) => a.startsWith('--redis-appendfsync='))?.slice('--redis-appendfsync='.length) ?? 'always') as BenchOptions['redisAppendfsync'];
  if (appendfsync !== 'always' && appendfsync !== 'everysec') throw new Error('--redis-appendfsync must be always or everysec');
  const pipelineEnv: Record<string, string> = {};
  argv.forEach((a, i) => {
    if (a === '--env' && argv[i + 1]) {
      const [k, ...v] = argv[i + 1]!.split('=');
      pipelineEnv[k!] = v.join('=');
    }
  });
  const outDir = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);
  const sizes = argv.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length);
  const soakMinutes = Number(argv.find((a) => a.startsWith('--soak-minutes='))?.slice('--soak-minutes='.length) ?? 10);
  const common = {
    phases,
    profile: argv.includes('--profile'),
    pipelineEnv,
    ...(outDir ? { outDir } : {}),
    batchSize: 500,
    redisAppendfsync: appendfsync,
    // 40,000 records/s: about half the sustained rate of the latest full runs (README, "Performance"); --rate=N to change
    soak: { minutes: soakMinutes, recordsPerSecond: 40_000, maxInFlight: 128, drainTimeoutMs: 120_000 },
  };
  const options: BenchOptions = quick
    ? {
        ...common,
        mode: 'quick',
        poolLogs: 10_000,
        express: { durationMs: 2000, connections: 32 },
        middleware: { requests: 4000, runs: 3 },
        e2e: { startRecordsPerSecond: 4000, growth: 2, maxSteps: 4, refineSteps: 1, stepMs: 3000, halfRateMs: 4000, halfRateWarmupMs: 1000, settleTimeoutMs: 10_000, maxInFlight: 64, drainTimeoutMs: 20_000 },
        engine: { blockRows: 10_000, smallBlockRows: 2_000, rowsPerRun: 60_000, repetitions: 2, mergeQuietMs: 1000 },
        queries: { sizes: [100_000], repetitions: 5 },
      }
    : {
        ...common,
        mode: 'full',
        poolLogs: 100_000,
        express: { durationMs: 10_000, connections: 64 },
        middleware: { requests: 20_000, runs: 5 },
        e2e: { startRecordsPerSecond: 5000, growth: 1.4, maxSteps: 12, refineSteps: 3, stepMs: 15_000, halfRateMs: 60_000, halfRateWarmupMs: 5000, settleTimeoutMs: 60_000, maxInFlight: 128, drainTimeoutMs: 120_000 },
        engine: { blockRows: 50_000, smallBlockRows: 5_000, rowsPerRun: 1_000_000, repetitions: 3, mergeQuietMs: 6000 },
        queries: { sizes: [1_000_000, 10_000_000], repetitions: 20 },
      };
  if (sizes) options.queries.sizes = sizes.split(',').map(Number);
  const rate = argv.find((a) => a.startsWith('--rate='))?.slice('--rate='.length);
  if (rate) {
    options.e2e.fixedRecordsPerSecond = Number(rate);
    options.soak.recordsPerSecond = Number(rate);
  }
  if (argv.includes('--idempotency-keys')) options.e2e.idempotencyKeys = true;
  // `--batch=N`: records per request (default 500, the producer SDK's default batch)
  const batch = argv.find((a) => a.startsWith('--batch='))?.slice('--batch='.length);
  if (batch) options.batchSize = Number(batch);
  // `--slow-host` alone takes the default strength; `--slow-host=load:N` or `--slow-host=quota:F`
  const slow = argv.find((a) => a === '--slow-host' || a.startsWith('--slow-host='));
  if (slow) options.slowHost = parseSlowHost(slow === '--slow-host' ? DEFAULT_SLOW_HOST : slow.slice('--slow-host='.length));
  return options;
}
