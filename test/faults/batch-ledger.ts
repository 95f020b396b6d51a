import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import type { BatchJob } from '../../queue/jobs.js';
import { redisKeys } from '../../queue/redis-keys.js';

/** Every BullMQ job state (bullmq 6, dist/esm/types/job-type.d.ts): a drain check that skips one can pass with rows still unwritten. */
export const ALL_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
/** States in which a job's rows are still to be written. */
const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * What a fault test was promised (each 202's batch id and record count) against what landed, so
 * a failure names the lost batch and where it went: never in Redis's AOF (lost by Redis), its job
 * or rows gone after a restart, its job failed, or its job completed without rows in ClickHouse.
 */
export class BatchLedger {
  readonly accepted = new Map<string, number>();

  accept(batchId: string, records: number): void {
    this.accepted.set(batchId, records);
  }

  get records(): number {
    return [...this.accepted.values()].reduce((a, b) => a + b, 0);
  }

  /** Rows per batch id in a raw table. */
  static async landed(clickhouse: ClickHouseClient, table: string): Promise<Map<string, number>> {
    const rows = await (
      await clickhouse.query({ query: `SELECT batch_id, count() AS n FROM ${table} GROUP BY batch_id`, format: 'JSONEachRow' })
    ).json<{ batch_id: string; n: string | number }>();
    return new Map(rows.map((r) => [r.batch_id, Number(r.n)]));
  }

  /** Waits until no job is pending in any state, then for every accepted batch to land (or the timeout). */
  async waitForLanding(queue: Queue<BatchJob>, clickhouse: ClickHouseClient, table: string, timeoutMs: number): Promise<Map<string, number>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = await queue.getJobCounts(...PENDING_STATES);
      const pending = Object.values(counts).some((c) => c > 0);
      const landed = pending ? undefined : await BatchLedger.landed(clickhouse, table);
      if (landed && [...this.accepted.keys()].every((id) => landed.has(id))) return landed;
      if (Date.now() > deadline) return landed ?? BatchLedger.landed(clickhouse, table);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Accepted batches missing or short in `landed`, and landed batches with more rows than accepted. */
  discrepancies(landed: Map<string, number>): { missing: string[]; duplicated: string[] } {
    const missing = [...this.accepted].filter(([id, n]) => (landed.get(id) ?? 0) < n).map(([id]) => id);
    const duplicated = [...this.accepted].filter(([id, n]) => (landed.get(id) ?? 0) > n).map(([id]) => id);
    return { missing, duplicated };
  }

  /** Where each missing batch was lost, one line each. */
  async explain(missing: string[], o: { queue: Queue<BatchJob>; redis: Redis; prefix: string; redisDir: string; landed: Map<string, number> }): Promise<string[]> {
    const aof = aofText(o.redisDir);
    return Promise.all(
      missing.map(async (id) => {
        const job = await o.queue.getJob(id);
        const state = job ? await job.getState() : 'absent (completed and removed, or never stored)';
        const rows = (await o.redis.exists(redisKeys(o.prefix).rows(id))) === 1;
        const inAof = aof.includes(id);
        const where = !inAof
          ? 'never reached the AOF: Redis acknowledged a write it had not written'
          : job && state === 'failed'
            ? `job failed: ${job.failedReason}`
            : !job
              ? 'in the AOF, but its job is gone and its rows are not in ClickHouse'
              : `job ${state}`;
        return `${id}: accepted ${this.accepted.get(id)} records, landed ${o.landed.get(id) ?? 0}; in AOF: ${inAof}; job: ${state}; rows key: ${rows}; => ${where}`;
      }),
    );
  }
}

/** Redis 7's multi-part AOF (appendonlydir/*), as text to search batch ids in. */
export function aofText(redisDir: string): string {
  const dir = join(redisDir, 'appendonlydir');
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .filter((f) => f.includes('.aof'))
    .map((f) => readFileSync(join(dir, f), 'latin1'))
    .join('\n');
}
