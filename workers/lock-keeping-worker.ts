import { Worker, type Job, type JobJson } from 'bullmq';

/** How often the event loop's lateness is sampled. */
const SAMPLE_MS = 100;
/** A measured stall counts half as much after this long (the lease shrinks back as stalls pass). */
const HALF_LIFE_MS = 20_000;
/** The lease is at most this many lock periods: a dead worker's jobs are taken over within it. */
const MAX_LEASE_FACTOR = 10;

/**
 * The longest recent stall of lock renewal: the event loop's lateness plus a renewal's round
 * trip, each a peak that decays by half every HALF_LIFE_MS.
 */
class RenewalStalls {
  private lag = 0;
  private rtt = 0;
  private readonly decay = 0.5 ** (SAMPLE_MS / HALF_LIFE_MS);
  private readonly timer: NodeJS.Timeout;

  constructor() {
    let expected = performance.now() + SAMPLE_MS;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.lag = Math.max(now - expected, this.lag * this.decay);
      this.rtt *= this.decay;
      expected = now + SAMPLE_MS;
    }, SAMPLE_MS).unref();
  }

  roundTrip(ms: number): void {
    this.rtt = Math.max(this.rtt, ms);
  }

  get ms(): number {
    return this.lag + this.rtt;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * BullMQ's Worker, renewing the lock of every job it holds from the moment it takes it, and that
 * of a job it took again (read against node_modules/bullmq/dist/cjs/classes/worker.js, bullmq 6.7).
 * It overrides BullMQ's internals (nextJobFromJobData, lockManager), so package.json pins bullmq
 * to 6.7.0: an upgrade re-reads worker.js and runs test/lock-lapse.test.ts and the starved-worker
 * fault test.
 *
 * 1. Taken, not yet started. The main loop takes up to `concurrency` jobs one after the other
 *    before it starts the first (mainLoop), and the lock timer renews only started jobs
 *    (processJob calls lockManager.trackJob). A starved worker with a backlog took its 256 jobs
 *    in longer than a lock period (measured: 2-7% of a core, 1.4 s renewal round trips), so the
 *    first jobs' locks lapsed before they started; the stalled-job check handed them out again,
 *    to this same worker, and their first attempts failed. Here a job is tracked as it is taken.
 * 2. Taken again. BullMQ tracks locks by job id, not by attempt: an attempt that ends untracks
 *    `job.id`, so an old attempt (its lock lapsed) ending stops the renewals of the newer attempt
 *    of the same job, whose lock then lapses in turn. Here the newest attempt is tracked again.
 * 3. Renewed late. The lock timer ticks every lockDuration / 4 and renews jobs last renewed more
 *    than that long ago, each by lockDuration: a renewal that comes more than about half a lock
 *    period late (a starved event loop, a Redis round trip behind a busy disk) lets every lock
 *    lapse at once. Measured at load 8: one 2 s stall of the event loop lapsed all 256 locks with a
 *    2 s lock. Here each renewal extends by a lease sized from the stalls measured: the lock
 *    period while there are none, lockDuration / 2 + twice the recent stall when there are, at
 *    most MAX_LEASE_FACTOR lock periods. A longer lease only delays the takeover of a dead
 *    worker's jobs, and only while its host was stalling.
 */
export class LockKeepingWorker<T> extends Worker<T> {
  /** job id -> tokens of its attempts taken by this worker and not ended, oldest first */
  private readonly attempts = new Map<string, string[]>();
  private readonly stalls = new RenewalStalls();

  /** What a renewal extends a lock by now (see 3. above). */
  leaseMs(lockMs: number): number {
    return Math.round(Math.min(lockMs * MAX_LEASE_FACTOR, Math.max(lockMs, lockMs / 2 + 2 * this.stalls.ms)));
  }

  override async extendJobLocks(jobIds: string[], tokens: string[], duration: number): Promise<string[]> {
    const started = performance.now();
    try {
      return await super.extendJobLocks(jobIds, tokens, this.leaseMs(duration));
    } finally {
      this.stalls.roundTrip(performance.now() - started);
    }
  }

  override async close(force?: boolean): Promise<void> {
    this.stalls.stop();
    return super.close(force);
  }

  protected override async nextJobFromJobData(jobData?: JobJson, jobId?: string, token?: string): Promise<Job<T>> {
    const job = await super.nextJobFromJobData(jobData, jobId, token);
    if (job?.id && token) {
      this.attempts.set(job.id, [...(this.attempts.get(job.id) ?? []), token]);
      // the lock was set when the job was taken (processedOn): renewed from then on, started or not
      this.lockManager.trackJob(job.id, token, job.processedOn ?? Date.now());
    }
    return job;
  }

  override async processJob(job: Job<T>, token: string, fetchNextCallback?: () => boolean) {
    try {
      return await super.processJob(job, token, fetchNextCallback);
    } finally {
      this.attemptEnded(job.id!, token);
    }
  }

  private attemptEnded(id: string, token: string): void {
    const all = this.attempts.get(id) ?? [];
    const left = all.filter((t) => t !== token);
    if (left.length === 0) this.attempts.delete(id);
    else this.attempts.set(id, left);
    // An older attempt ended and BullMQ untracked the job: track the newest again (an old
    // timestamp, so the lock timer's next tick renews it). Attempts older than the newest hold no
    // lock, so the newest ending leaves nothing to renew.
    const newest = all.at(-1);
    if (left.length > 0 && newest !== undefined && token !== newest) this.lockManager.trackJob(id, newest, 1);
  }
}
