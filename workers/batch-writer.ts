import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { recordKinds } from '../schema/records.js';
import type { BatchJob } from '../queue/jobs.js';
import { jobShape, RowsMissingError, type JobRows } from '../queue/job-rows.js';
import { isDataError, joinBlocks, type ClickHouseWriter } from './clickhouse-writer.js';
import { FlushManifests, SPLIT } from './flush-manifests.js';
import { BlockBuffer } from './block-buffer.js';

export interface BatchWriterOptions {
  writer: ClickHouseWriter;
  manifests: FlushManifests;
  logger: Logger;
  /** Loads a queued job by id (to rebuild a flush after a crash). */
  loadJob: (id: string) => Promise<Job<BatchJob> | undefined>;
  /** A job's rows (queue/job-rows.ts readJobRows). */
  loadRows: (job: Job<BatchJob>) => Promise<JobRows>;
  maxRows: number;
  maxWaitMs: number;
  idleMs: number;
  /** Least time between two idle flushes of a table (the engine's cost is per insert); capped at maxWaitMs. */
  minIntervalMs?: number;
  /** The worker's concurrency: when we hold that many jobs no more can arrive, so flush. */
  concurrency: number;
  /**
   * Extends the BullMQ lock of each job where this worker still holds it, by at least a lock
   * period (BullMQ's extendLocks script: token compared and lock set in one step; the lease of
   * workers/lock-keeping-worker.ts), and returns the ids whose lock is lost. Called right before
   * each insert: see keepLocked().
   */
  renewLocks?: (jobs: { jobId: string; token: string }[]) => Promise<string[]>;
}

/** The job's BullMQ lock expired or was taken by another attempt: it is not written by this one. */
export class LockLostError extends Error {}

/** Jobs whose rows are read in one round trip (~300 KB each for 500-record batches). */
const ROWS_READ_GROUP = 8;

interface Entry {
  job: Job<BatchJob>;
  /** rows in the job (read from Redis only when the flush is written: held jobs cost no memory) */
  count: number;
  /** The BullMQ lock token this worker holds the job with. */
  token?: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Jobs buffered for one insert: same table and same column list (a deploy may change the columns). */
interface TableBuffer {
  table: string;
  kind: string;
  entries: Entry[];
  rows: number;
  firstAt: number;
  lastAt: number;
  /** when the last flush of this table started */
  lastFlushAt: number;
  flushing: boolean;
  timer?: NodeJS.Timeout;
  /** where this table's flushes are joined (reused: one flush at a time per table) */
  memory: BlockBuffer;
}

export interface WriteStats {
  flushes: number;
  rowsWritten: number;
  jobsWritten: number;
  recoveredFlushes: number;
  isolatedJobs: number;
  deadLettered: number;
  lastFlushRows: number;
  /** jobs left out of a flush because their lock had lapsed (keepLocked) */
  lockLostJobs: number;
}

/**
 * Coalesces queued jobs into one insert per table (BullMQ has no batch consumption). A job's
 * promise settles only after its rows are in ClickHouse, so BullMQ completes it only then.
 */
export class BatchWriter {
  private readonly buffers = new Map<string, TableBuffer>();
  private readonly recoveries = new Map<string, Promise<void>>();
  /** flush id -> settles when that flush of this writer ends (a re-run of one of its jobs waits for it). */
  private readonly running = new Map<string, Promise<void>>();
  /** flush id -> jobs not yet reported completed by BullMQ; bookkeeping is dropped after the last one. */
  private readonly awaitingCompletion = new Map<string, { remaining: Set<string>; all: string[] }>();
  private readonly flushOfJob = new Map<string, string>();
  private held = 0;
  private draining = false;
  readonly stats: WriteStats = {
    flushes: 0,
    rowsWritten: 0,
    jobsWritten: 0,
    recoveredFlushes: 0,
    isolatedJobs: 0,
    deadLettered: 0,
    lastFlushRows: 0,
    lockLostJobs: 0,
  };

  constructor(private readonly o: BatchWriterOptions) {}

  /** The BullMQ processor: resolves once this job's rows are durably in ClickHouse. */
  async process(job: Job<BatchJob>, token?: string): Promise<void> {
    const prior = await this.o.manifests.lookup(job.id!);
    if (prior === SPLIT) return this.writeAlone(job);
    if (prior) {
      if (prior.done) return; // written before a crash; only the completion was lost
      return this.recover(prior.flushId, prior.manifest, job);
    }
    // A producer retry that raced the first attempt's completion may have queued the batch again.
    if (await this.o.manifests.batchWritten(job.data.batch_id)) return;
    const { table } = recordKinds[job.data.kind];
    const { columns, count } = jobShape(job.data);
    const key = `${table}(${columns.join(',')})`;
    let buf = this.buffers.get(key);
    if (!buf) {
      buf = { table, kind: job.data.kind, entries: [], rows: 0, firstAt: 0, lastAt: 0, lastFlushAt: 0, flushing: false, memory: new BlockBuffer() };
      this.buffers.set(key, buf);
    }
    this.held++;
    return new Promise<void>((resolve, reject) => {
      const now = Date.now();
      if (buf.entries.length === 0) buf.firstAt = now;
      buf.lastAt = now;
      buf.entries.push({ job, count, token, resolve, reject });
      buf.rows += count;
      this.maybeFlush(buf);
    }).finally(() => this.held--);
  }

  /** Jobs waiting on this writer (buffered or being written). */
  get heldJobs(): number {
    return this.held;
  }

  /** Called from the worker's 'completed' event. */
  jobCompleted(jobId: string): void {
    const flushId = this.flushOfJob.get(jobId);
    if (flushId === undefined) return;
    this.flushOfJob.delete(jobId);
    const waiting = this.awaitingCompletion.get(flushId);
    if (!waiting) return;
    waiting.remaining.delete(jobId);
    if (waiting.remaining.size === 0) {
      this.awaitingCompletion.delete(flushId);
      this.o.manifests.forget(flushId, waiting.all).catch(() => {});
    }
  }

  /** Shutdown: write everything held now instead of waiting for a fuller batch. */
  drain(): void {
    this.draining = true;
    for (const buf of this.buffers.values()) this.maybeFlush(buf);
  }

  private maybeFlush(buf: TableBuffer): void {
    clearTimeout(buf.timer);
    if (buf.flushing || buf.entries.length === 0) return;
    const now = Date.now();
    // an idle flush waits for the table's minimum interval; the other reasons do not
    const idleAt = Math.max(buf.lastAt + this.o.idleMs, buf.lastFlushAt + Math.min(this.o.minIntervalMs ?? 0, this.o.maxWaitMs));
    const due =
      this.draining ||
      buf.rows >= this.o.maxRows ||
      this.held >= this.o.concurrency ||
      now - buf.firstAt >= this.o.maxWaitMs ||
      now >= idleAt;
    if (due) {
      const flushId = randomUUID();
      const flushing = this.flush(buf, flushId).finally(() => this.running.delete(flushId));
      this.running.set(flushId, flushing);
      return;
    }
    const wait = Math.min(buf.firstAt + this.o.maxWaitMs, idleAt) - now;
    buf.timer = setTimeout(() => this.maybeFlush(buf), Math.max(1, wait));
  }

  private async flush(buf: TableBuffer, flushId: string): Promise<void> {
    buf.flushing = true;
    buf.lastFlushAt = Date.now();
    let entries = buf.entries.splice(0, buf.entries.length);
    buf.rows = 0;
    try {
      // A job whose rows are gone can never be written: it fails alone, the others go on.
      const { loaded, missing } = await this.loadAll(entries.map((e) => e.job), flushId);
      for (const { job, err } of missing) entries.find((e) => e.job === job)!.reject(err);
      entries = entries.filter((e) => loaded.has(e.job.id!));
      if (entries.length === 0) return;
      entries = await this.keepLocked(entries, buf.table, flushId);
      if (entries.length === 0) return;
      const jobs = entries.map((e) => e.job);
      const jobIds = jobs.map((j) => j.id!).sort();
      if (!(await this.o.manifests.record(flushId, { table: buf.table, kind: buf.kind, jobIds }))) {
        throw new Error('some of these jobs belong to another flush (this worker lost their lock); leaving them to it');
      }
      // in job id order: the same jobs always make the same block (and a re-run the same bytes)
      // into this table's reused memory: free again once this flush ends (the `flushing` flag)
      const block = buf.memory.join(jobIds.map((id) => loaded.get(id)!));
      loaded.clear(); // only the joined block is needed from here on
      try {
        await this.o.writer.insertDurably(buf.table, block, flushId);
      } catch (err) {
        if (!isDataError(err)) throw err;
        this.o.logger.warn({ table: buf.table, jobs: jobs.length, err: (err as Error).message }, 'batch refused; isolating bad records');
        await this.o.manifests.markSplit(jobIds);
        await Promise.all(entries.map((e) => this.writeAlone(e.job).then(e.resolve, e.reject)));
        return;
      }
      await this.o.manifests.markDone(flushId, jobs.map((j) => j.data.batch_id));
      this.count(block.count, jobs.length);
      this.awaitingCompletion.set(flushId, { remaining: new Set(jobIds), all: jobIds });
      for (const id of jobIds) this.flushOfJob.set(id, flushId);
      for (const e of entries) e.resolve();
    } catch (err) {
      for (const e of entries) e.reject(err);
    } finally {
      buf.flushing = false;
      this.maybeFlush(buf);
    }
  }

  /**
   * Right before the insert, renews the locks of the flush's jobs and keeps only those still held:
   * a job whose lock lapsed (a starved or frozen worker) may already be another attempt's, so it
   * is left to that one, and only it: the rest of the flush is written. The renewal also gives the
   * insert at least a whole lock period, whatever the renewal timer managed before it.
   */
  private async keepLocked(entries: Entry[], table: string, flushId: string): Promise<Entry[]> {
    if (!this.o.renewLocks || entries.every((e) => e.token === undefined)) return entries;
    // A job taken again while its lapsed attempt still waited here is held twice: only the newest
    // attempt (the last to arrive) can hold its lock.
    const newest = new Map(entries.map((e) => [e.job.id!, e]));
    const candidates = [...newest.values()].filter((e): e is Entry & { token: string } => e.token !== undefined);
    const lost = new Set(await this.o.renewLocks(candidates.map((e) => ({ jobId: e.job.id!, token: e.token }))));
    const kept: Entry[] = [];
    for (const e of entries) {
      if (newest.get(e.job.id!) === e && (e.token === undefined || !lost.has(e.job.id!))) kept.push(e);
      else e.reject(new LockLostError(`lost the lock of job ${e.job.id}; leaving it to the attempt that holds it`));
    }
    if (kept.length === entries.length) return entries;
    this.stats.lockLostJobs += entries.length - kept.length;
    this.o.logger.warn({ table, flushId, lost: entries.length - kept.length, kept: kept.length }, 'lost the lock of some jobs before their insert; writing the others');
    return kept;
  }

  /** The rows of these jobs by job id; jobs whose rows are gone (RowsMissingError) apart. */
  private async loadAll(jobs: Job<BatchJob>[], flushId: string) {
    const loaded = new Map<string, JobRows>();
    const missing: { job: Job<BatchJob>; err: RowsMissingError }[] = [];
    // A few jobs per round trip: Redis answers a pipeline in one go, and a flush's worth at once
    // (tens of MB) would stall every other client meanwhile, ingest's enqueues included.
    for (let i = 0; i < jobs.length; i += ROWS_READ_GROUP) {
      await Promise.all(
        jobs.slice(i, i + ROWS_READ_GROUP).map((job) =>
          this.o.loadRows(job).then(
            (rows) => void loaded.set(job.id!, rows),
            (err: unknown) => {
              if (!(err instanceof RowsMissingError)) throw err;
              this.o.logger.error({ flushId, job: job.id, err: err.message }, 'job without rows');
              missing.push({ job, err });
            },
          ),
        ),
      );
    }
    return { loaded, missing };
  }

  /** Re-runs a flush an earlier (crashed) run recorded, with its members and its token. */
  private async recover(flushId: string, manifest: { table: string; kind: string; jobIds: string[] } | null, job: Job<BatchJob>): Promise<void> {
    const inFlight = this.running.get(flushId);
    if (inFlight) {
      // This writer's own flush, still being written: the job's lock lapsed meanwhile and BullMQ
      // handed it out again. Waiting for that insert costs nothing; re-running it would insert the
      // same block twice at once (dropped as a repeat, but parsed twice by a starved engine).
      await inFlight;
      const after = await this.o.manifests.lookup(job.id!);
      if (after === SPLIT) return this.writeAlone(job);
      if (after?.done) return;
      throw new Error(`flush ${flushId} of job ${job.id} ended without being written; retrying`);
    }
    let running = this.recoveries.get(flushId);
    if (!running) {
      running = (async () => {
        const table = manifest?.table ?? recordKinds[job.data.kind].table;
        const ids = manifest?.jobIds ?? [job.id!];
        const members = (await Promise.all(ids.map((id) => (id === job.id ? job : this.o.loadJob(id))))).filter(
          (j): j is Job<BatchJob> => j !== undefined,
        );
        if (members.length !== ids.length) {
          this.o.logger.error({ flushId, expected: ids.length, found: members.length }, 'flush members missing on recovery');
        }
        const { loaded } = await this.loadAll(members, flushId);
        const block = joinBlocks([...loaded.keys()].sort().map((id) => loaded.get(id)!));
        try {
          await this.o.writer.insertDurably(table, block, flushId);
        } catch (err) {
          if (!isDataError(err)) throw err;
          // Each member then writes itself alone (see below, and SPLIT in process()).
          await this.o.manifests.markSplit(ids);
          return;
        }
        await this.o.manifests.markDone(flushId, members.map((m) => m.data.batch_id));
        this.stats.recoveredFlushes++;
        this.count(block.count, members.length);
        this.o.logger.info({ flushId, jobs: members.length, rows: block.count }, 'recovered an interrupted flush');
      })().finally(() => this.recoveries.delete(flushId));
      this.recoveries.set(flushId, running);
    }
    return running.then(async () => {
      // A member whose recovery split the batch still has its own rows to write.
      const prior = await this.o.manifests.lookup(job.id!);
      if (prior === SPLIT) await this.writeAlone(job);
    });
  }

  /** Writes one job on its own, isolating and dead-lettering rows ClickHouse refuses. */
  private async writeAlone(job: Job<BatchJob>): Promise<void> {
    const { table } = recordKinds[job.data.kind];
    const rows = await this.o.loadRows(job);
    const dead = await this.o.writer.writeIsolating(table, job.data.kind, { id: job.id!, batchId: job.data.batch_id }, rows);
    await this.o.manifests.markBatchesWritten([job.data.batch_id]);
    this.stats.isolatedJobs++;
    this.stats.deadLettered += dead;
    this.count(rows.count - dead, 1);
  }

  private count(rows: number, jobs: number) {
    this.stats.flushes++;
    this.stats.rowsWritten += rows;
    this.stats.jobsWritten += jobs;
    this.stats.lastFlushRows = rows;
  }
}
