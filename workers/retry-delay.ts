import { DelayedError, RATE_LIMIT_ERROR, UnrecoverableError, type Job, type JobsOptions, type Processor, type Queue } from 'bullmq';
import type { Logger } from 'pino';

/**
 * A failed job waits at most `maxDelayMs` before its next attempt, so rows accepted with a 202 land
 * within minutes of the cause going away, and the job is never given up.
 *
 * BullMQ's built-in `exponential` backoff has no cap (2^k s after k failures: 12 days at k = 20)
 * and a built-in type cannot be overridden: node_modules/bullmq/dist/cjs/classes/backoffs.js
 * `lookupStrategy` takes the built-in before the worker's `settings.backoffStrategy`. A custom
 * type in the job options would not be safe either during a rolling upgrade: an older worker that
 * does not know it throws "Unknown backoff strategy" inside `moveToFailed` (classes/job.js
 * `shouldRetryJob`), which classes/worker.js `retryIfFailed` only emits, leaving the job active
 * until its lock expires; and jobs queued earlier with `exponential` would stay uncapped.
 *
 * So the jobs keep the built-in type (queue/jobs.ts) and the worker caps in its processor: while
 * the built-in delay of this failure is under the cap BullMQ applies it as usual (attempts counted,
 * failedReason kept); past it, or where BullMQ would give the job up, the processor moves the job
 * to delayed itself and throws DelayedError, which worker.js `handleFailed` takes as "already
 * moved". That path does not count an attempt (job.js `moveToDelayed`, skipAttempt), so a job
 * that reached the cap stays there and never runs out of attempts.
 */
export interface RetryCap {
  maxDelayMs: number;
  /** uniform in [0, 1): injectable for tests */
  random?: () => number;
}

/**
 * The capped delay, spread over [cap/2, cap]: a crowd of jobs that failed together (one failed
 * insert fails the whole batch) does not come back in lockstep.
 */
export function cappedDelayMs({ maxDelayMs, random = Math.random }: RetryCap): number {
  return Math.round(maxDelayMs * (0.5 + 0.5 * random()));
}

/** The longest delay BullMQ's built-in strategy gives this job's next failure (backoffs.js); undefined for a custom type. */
export function builtinDelayMs(backoff: JobsOptions['backoff'], attemptsMade: number): number | undefined {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return backoff;
  const delay = backoff.delay ?? 0;
  if (backoff.type === 'fixed') return delay;
  if (backoff.type === 'exponential') return Math.round(2 ** attemptsMade * delay);
  return undefined;
}

/** True when BullMQ itself would wait longer than the cap after this failure, or give the job up. */
export function beyondCap(job: Pick<Job, 'opts' | 'attemptsMade'>, maxDelayMs: number): boolean {
  if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) return true;
  const builtin = builtinDelayMs(job.opts.backoff, job.attemptsMade);
  return builtin === undefined || builtin > maxDelayMs;
}

/** Errors with which a processor asks BullMQ for something other than a retry: passed through. */
function isBullmqControl(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err instanceof UnrecoverableError ||
    ['UnrecoverableError', 'DelayedError', 'WaitingError', 'WaitingChildrenError'].includes(err.name) ||
    err.message === RATE_LIMIT_ERROR
  );
}

/** Wraps the worker's processor with the capped retry delay (see above). */
export function withCappedRetryDelay<T>(process: Processor<T>, cap: RetryCap, logger: Logger): Processor<T> {
  return async (job, token, signal) => {
    try {
      return await process(job, token, signal);
    } catch (err) {
      if (token === undefined || isBullmqControl(err) || !beyondCap(job, cap.maxDelayMs)) throw err;
      const delayMs = cappedDelayMs(cap);
      try {
        await job.moveToDelayed(Date.now() + delayMs, token);
      } catch {
        // Lock lost: BullMQ's own failure path runs, and its stalled check hands the job out again.
        throw err;
      }
      logger.warn({ job: job.id, attemptsMade: job.attemptsMade, delayMs, err: (err as Error).message }, 'job attempt failed; retried after the capped delay');
      throw new DelayedError();
    }
  };
}

/**
 * At start-up: jobs an older worker delayed past the cap (uncapped exponential backoff) are brought
 * forward to a capped delay. A job's due time is at least `processedOn + delay` (the delay counts
 * from the end of the failed attempt), so a rescheduled job never waits longer than before.
 * Returns how many were rescheduled.
 */
export async function capDelayedRetries(queue: Queue, cap: RetryCap, now = Date.now(), page = 500): Promise<number> {
  const late: Job[] = [];
  // Collect first, then change: changeDelay reorders the delayed set that is being paged through.
  for (let start = 0; ; start += page) {
    const jobs = (await queue.getDelayed(start, start + page - 1)) as Job[];
    for (const job of jobs) {
      if (job && job.delay > cap.maxDelayMs && (job.processedOn ?? job.timestamp) + job.delay > now + cap.maxDelayMs) late.push(job);
    }
    if (jobs.length < page) break;
  }
  let moved = 0;
  for (const job of late) {
    // A job promoted or taken meanwhile is no longer delayed (JobNotInState): nothing to do.
    moved += await job.changeDelay(cappedDelayMs(cap)).then(
      () => 1,
      () => 0,
    );
  }
  return moved;
}
