import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Queue } from 'bullmq';
import { chTime, kindNames, type RecordKind, type Row } from '../schema/records.js';
import type { BatchJob } from '../queue/jobs.js';

export interface DeadLetter {
  id: string;
  kind: string;
  table_name: string;
  batch_id: string;
  row: string;
  error: string;
  failed_at: string;
}

/** Dead letters not yet replayed, oldest first. */
export async function listDeadLetters(client: ClickHouseClient, database: string, limit = 1000): Promise<DeadLetter[]> {
  const rs = await client.query({
    query: `SELECT id, kind, table_name, batch_id, row, error, toString(failed_at) AS failed_at
            FROM ${database}.dead_letters FINAL
            WHERE replayed_at IS NULL
            ORDER BY failed_at, id
            LIMIT {limit:UInt32}`,
    query_params: { limit },
    format: 'JSONEachRow',
  });
  return rs.json<DeadLetter>();
}

/**
 * Queues dead letters again (one job per original batch) and marks them replayed. Use after the
 * cause is fixed (a migration, a bug fix); a row that still fails is dead-lettered anew.
 */
export async function replayDeadLetters(
  client: ClickHouseClient,
  database: string,
  queue: Queue<BatchJob>,
  letters: DeadLetter[],
): Promise<{ replayed: number; jobs: number }> {
  const groups = new Map<string, DeadLetter[]>();
  for (const l of letters) {
    if (!kindNames.includes(l.kind as RecordKind)) throw new Error(`dead letter ${l.id}: unknown kind ${l.kind}`);
    const key = `${l.kind}\n${l.batch_id}`;
    groups.set(key, [...(groups.get(key) ?? []), l]);
  }
  const now = Date.now();
  for (const group of groups.values()) {
    const first = group[0]!;
    const rows = group.map((l) => JSON.parse(l.row) as Row);
    const letterIds = createHash('sha256').update(group.map((l) => l.id).join('\n')).digest('hex').slice(0, 24);
    // a batch id of its own: the original batch counts as written, and a replay must not be skipped
    const batchId = `replay-${letterIds}-${now}`;
    const job: BatchJob = { v: 1, kind: first.kind as RecordKind, batch_id: batchId, received_at: now, rows };
    await queue.add(job.kind, job, { jobId: batchId });
  }
  if (letters.length > 0) {
    await client.insert({
      table: `${database}.dead_letters`,
      values: letters.map((l) => ({ ...l, replayed_at: chTime(now), version: now })),
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplicate: 1, insert_deduplication_token: `replay:${now}:${letters[0]!.id}` },
    });
  }
  return { replayed: letters.length, jobs: groups.size };
}
