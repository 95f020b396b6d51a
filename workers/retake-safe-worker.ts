import { Worker, type Job } from 'bullmq';

/**
 * BullMQ's Worker, keeping the lock of a job that this same worker took again renewed.
 *
 * A job whose lock lapsed (a starved or frozen worker) is handed out again by the stalled-job
 * check, often to this same worker while its earlier attempt is still held here (buffered for a
 * flush). BullMQ tracks lock renewals by job id, not by attempt: `processJob` untracks `job.id`
 * when an attempt ends (node_modules/bullmq/dist/cjs/classes/worker.js processJob, and
 * lock-manager.js trackedJobs). So the earlier attempt ending stops the renewals of the newer one,
 * whose lock then lapses in turn, and the job goes round again. Here, when an attempt ends while a
 * newer attempt of the same job runs, the newest is tracked again.
 */
export class RetakeSafeWorker<T> extends Worker<T> {
  /** job id -> tokens of its attempts running in this worker, oldest first */
  private readonly attempts = new Map<string, string[]>();

  override async processJob(job: Job<T>, token: string, fetchNextCallback?: () => boolean) {
    const id = job.id!;
    const tokens = this.attempts.get(id) ?? [];
    tokens.push(token);
    this.attempts.set(id, tokens);
    try {
      return await super.processJob(job, token, fetchNextCallback);
    } finally {
      const all = this.attempts.get(id)!;
      const newest = all.at(-1)!;
      const left = all.filter((t) => t !== token);
      if (left.length === 0) this.attempts.delete(id);
      else this.attempts.set(id, left);
      // An older attempt ended (its lock was the newest one's already): track the newest again, with
      // an old timestamp so the lock timer's next tick renews it. Attempts older than the newest
      // hold no lock, so the newest ending leaves nothing to renew.
      if (left.length > 0 && token !== newest) this.lockManager.trackJob(id, newest, 1);
    }
  }

  /** Attempts of one job running at once here (a re-take): for tests. */
  runningAttempts(jobId: string): number {
    return this.attempts.get(jobId)?.length ?? 0;
  }
}
