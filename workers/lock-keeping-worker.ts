import { Worker, type Job, type JobJson } from 'bullmq';

/**
 * BullMQ's Worker, renewing the lock of every job it holds from the moment it takes it, and that
 * of a job it took again (read against node_modules/bullmq/dist/cjs/classes/worker.js, bullmq 6.7).
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
 */
export class LockKeepingWorker<T> extends Worker<T> {
  /** job id -> tokens of its attempts taken by this worker and not ended, oldest first */
  private readonly attempts = new Map<string, string[]>();

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
