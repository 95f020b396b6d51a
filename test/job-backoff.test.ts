import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Backoffs, Job, Queue, UnrecoverableError, Worker, type JobsOptions, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import { defaultJobOptions, QUEUE_NAME, workerRedis } from '../queue/jobs.js';
import { beyondCap, builtinDelayMs, capDelayedRetries, withCappedRetryDelay } from '../workers/retry-delay.js';
import { createLogger } from '../lib/logger.js';

// Real Redis (test/setup/redis.ts) and real BullMQ: a failing job's next attempt comes after
// BullMQ's exponential backoff until that passes the cap, then after the cap (jittered), for ever.

const logger = createLogger('test', 'silent');
const REDIS_URL = process.env.REDIS_URL!;
let redis: Redis;
let queue: Queue;
const workers: Worker[] = [];

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  await queue?.close();
});
afterAll(() => redis.disconnect());

const newQueue = () => {
  queue = new Queue(QUEUE_NAME, { connection: workerRedis(REDIS_URL), prefix: `tb${randomBytes(4).toString('hex')}`, defaultJobOptions });
  return queue;
};

interface Attempt {
  at: number;
  attemptsMade: number;
  /** the attempt's Job: BullMQ sets its `delay` to the retry delay it stored when the attempt failed */
  job: Job;
}

/** A worker on `queue` whose processor fails until `failures` attempts of a job have failed; records each attempt. */
function startWorker(q: Queue, o: { failures: number; maxDelayMs?: number; error?: () => Error }) {
  const attempts = new Map<string, Attempt[]>();
  const failedAt = new Map<string, number[]>();
  const fail: Processor = async (job) => {
    const list = attempts.get(job.id!) ?? [];
    attempts.set(job.id!, list);
    list.push({ at: Date.now(), attemptsMade: job.attemptsMade, job });
    if (list.length <= o.failures) {
      failedAt.set(job.id!, [...(failedAt.get(job.id!) ?? []), Date.now()]);
      throw (o.error ?? (() => new Error('ClickHouse unreachable')))();
    }
  };
  const processor = o.maxDelayMs === undefined ? fail : withCappedRetryDelay(fail, { maxDelayMs: o.maxDelayMs }, logger);
  const worker = new Worker(QUEUE_NAME, processor, { connection: workerRedis(REDIS_URL), prefix: q.opts.prefix, concurrency: 50 });
  workers.push(worker);
  return { worker, attempts, failedAt };
}

const until = async (check: () => Promise<boolean>, what: string, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const stateOf = async (q: Queue, id: string) => (await Job.fromId(q, id))?.getState() ?? 'gone';
const isDelayed = (q: Queue, id: string) => async () => (await q.getJobState(id)) === 'delayed';
const isDone = (q: Queue, id: string) => async () => (await stateOf(q, id)) === 'gone'; // removeOnComplete

/** Makes a queued job look as if it had already failed `n` times (the job hash's attempts counter). */
const markFailed = (q: Queue, id: string, n: number) => redis.hset(q.toKey(id), 'atm', n);

describe('job retry delay (workers/retry-delay.ts)', () => {
  it('knows the delay BullMQ itself would take (its backoffs.js), for the options ingest sets', () => {
    const plain = { type: 'exponential', delay: 1000 };
    for (let k = 0; k < 30; k++) {
      expect(builtinDelayMs(plain, k)).toBe(Backoffs.calculate(plain, k + 1, new Error('x'), {} as Job));
      // with jitter BullMQ draws at most the plain delay
      const drawn = Backoffs.calculate(defaultJobOptions.backoff as { type: string; delay: number }, k + 1, new Error('x'), {} as Job)!;
      expect(drawn).toBeLessThanOrEqual(builtinDelayMs(defaultJobOptions.backoff, k)!);
      expect(drawn).toBeGreaterThanOrEqual(builtinDelayMs(defaultJobOptions.backoff, k)! / 2 - 1);
    }
    expect(builtinDelayMs(plain, 20)).toBe(1000 * 2 ** 20); // 12 days: why the cap exists
    expect(beyondCap({ opts: defaultJobOptions, attemptsMade: 5 } as Job, 60_000)).toBe(false); // 32 s
    expect(beyondCap({ opts: defaultJobOptions, attemptsMade: 6 } as Job, 60_000)).toBe(true); // 64 s
    expect(beyondCap({ opts: { ...defaultJobOptions, attempts: 3 }, attemptsMade: 2 } as Job, 60_000)).toBe(true); // BullMQ would give up
    expect(beyondCap({ opts: { backoff: { type: 'custom' }, attempts: 10 }, attemptsMade: 0 } as Job, 60_000)).toBe(true);
  });

  it('delays grow with each failure, then stay at the cap (jittered), and the job lands once the cause is gone', async () => {
    const q = newQueue();
    const maxDelayMs = 400;
    const { attempts, failedAt } = startWorker(q, { failures: 10, maxDelayMs });
    // ingest's options with a 20 ms base instead of 1 s so the test takes seconds
    const opts: JobsOptions = { ...defaultJobOptions, backoff: { type: 'exponential', delay: 20, jitter: 0.5 } };
    await q.add('logs', {}, { ...opts, jobId: 'j1' });
    await until(isDone(q, 'j1'), 'the job to complete');

    const list = attempts.get('j1')!;
    expect(list).toHaveLength(11);
    const delays = list.slice(0, -1).map((a) => a.job.delay);
    const made = list.map((a) => a.attemptsMade);
    // BullMQ's own backoff while under the cap: 20 ms x 2^k, jittered down to half
    for (let k = 0; k < 5; k++) {
      expect(delays[k]).toBeGreaterThanOrEqual(10 * 2 ** k);
      expect(delays[k]).toBeLessThanOrEqual(20 * 2 ** k);
    }
    // next would be 640 ms: capped from then on, spread over [cap/2, cap]
    for (const d of delays.slice(5)) {
      expect(d).toBeGreaterThanOrEqual(maxDelayMs / 2 - 5); // the delay counts from BullMQ's own clock read
      expect(d).toBeLessThanOrEqual(maxDelayMs);
    }
    expect(new Set(delays.slice(5)).size).toBeGreaterThan(1);
    // attempts counted while BullMQ backs off; the capped retries do not use up attempts
    expect(made).toEqual([0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5]);
    // each retry really ran after its delay, and not long after (slack for a busy 2-core host)
    const failures = failedAt.get('j1')!;
    for (let i = 1; i < list.length; i++) {
      const gap = list[i]!.at - failures[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(delays[i - 1]! - 5);
      expect(gap).toBeLessThan(delays[i - 1]! + 2000);
    }
  });

  it("caps a job that already failed 20 times under BullMQ's uncapped backoff (queued by an older version)", async () => {
    const q = newQueue();
    await q.add('logs', {}, { ...defaultJobOptions, backoff: { type: 'exponential', delay: 1000 }, jobId: 'old' });
    await markFailed(q, 'old', 20);
    const { attempts } = startWorker(q, { failures: 1, maxDelayMs: 300 });
    await until(isDone(q, 'old'), 'the job to complete');
    const [first, second] = attempts.get('old')!;
    expect(first!.job.delay).toBeGreaterThanOrEqual(150 - 5);
    expect(first!.job.delay).toBeLessThanOrEqual(300);
    expect(second!.at - first!.at).toBeLessThan(300 + 2000);
  });

  it('without the cap BullMQ delays that job 12 days; a new worker brings it forward at start-up', async () => {
    const q = newQueue();
    await q.add('logs', {}, { ...defaultJobOptions, backoff: { type: 'exponential', delay: 1000 }, jobId: 'late' });
    await markFailed(q, 'late', 20);
    const old = startWorker(q, { failures: 1 }); // an older worker: plain BullMQ backoff
    await until(isDelayed(q, 'late'), 'the failed job to be delayed');
    await old.worker.close();
    expect((await Job.fromId(q, 'late'))!.delay).toBe(1000 * 2 ** 20);

    await q.add('logs', {}, { ...defaultJobOptions, jobId: 'soon', delay: 250 }); // within the cap: left as it is
    expect(await capDelayedRetries(q, { maxDelayMs: 300 })).toBe(1);
    expect((await Job.fromId(q, 'soon'))!.delay).toBe(250);
    expect(await capDelayedRetries(q, { maxDelayMs: 300 })).toBe(0); // already within the cap
    const started = Date.now();
    startWorker(q, { failures: 0, maxDelayMs: 300 });
    await until(isDone(q, 'late'), 'the rescheduled job to complete');
    expect(Date.now() - started).toBeLessThan(300 + 2000);
    await until(isDone(q, 'soon'), 'the other job to complete');
  });

  it('a crowd of jobs failing together comes back spread over [cap/2, cap], not in lockstep', async () => {
    const q = newQueue();
    const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
    await q.addBulk(ids.map((jobId) => ({ name: 'logs', data: {}, opts: { ...defaultJobOptions, jobId } })));
    for (const id of ids) await markFailed(q, id, 10);
    const maxDelayMs = 1000;
    const { attempts } = startWorker(q, { failures: 1, maxDelayMs });
    for (const id of ids) await until(isDone(q, id), `job ${id} to complete`);
    const delays = ids.map((id) => attempts.get(id)![0]!.job.delay);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(maxDelayMs / 2 - 5);
      expect(d).toBeLessThanOrEqual(maxDelayMs);
    }
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(maxDelayMs / 4);
    expect(new Set(delays).size).toBeGreaterThan(20);
  });

  it('an unrecoverable error (rows missing) still fails the job at once, without retries', async () => {
    const q = newQueue();
    await q.add('logs', {}, { ...defaultJobOptions, jobId: 'bad' });
    await markFailed(q, 'bad', 10);
    startWorker(q, { failures: 5, maxDelayMs: 300, error: () => new UnrecoverableError('rows missing') });
    await until(async () => (await q.getJobState('bad')) === 'failed', 'the job to fail');
    expect((await Job.fromId(q, 'bad'))!.failedReason).toBe('rows missing');
  });
});
