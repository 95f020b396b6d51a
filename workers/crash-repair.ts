import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { rawTableTime, rollups, type RawTable } from '../clickhouse/tables.js';
import { undeduplicatedInsert } from '../clickhouse/client.js';
import type { Row } from '../schema/records.js';
import type { BatchJob } from '../queue/jobs.js';
import { rowObjects, RowsMissingError, type JobRows } from '../queue/job-rows.js';
import type { FlushManifests } from './flush-manifests.js';

/**
 * Embedded mode only: the engine lives in the worker, so a killed worker can leave an insert
 * half-applied — the raw part or a rollup part committed without the other, or the raw table's
 * deduplication log holding a token whose part never landed (the log is written before the part
 * is committed). Token deduplication alone would then lose or double rows. So before consuming,
 * a fresh engine owner repairs every flush its predecessor left open, using the raw rows as truth:
 *   1. the raw table holds the flush's rows exactly once (deleted and re-inserted if partial);
 *   2. every rollup over that table is rebuilt for the buckets (minutes, days, keys) the rows touch.
 * No other writer runs meanwhile, so the rebuild is exact. Server mode needs none of this: a
 * worker crash does not crash the server, whose insert completes or fails as a whole.
 */
export interface RepairOptions {
  client: ClickHouseClient;
  database: string;
  manifests: FlushManifests;
  loadJob: (id: string) => Promise<Job<BatchJob> | undefined>;
  loadRows: (job: Job<BatchJob>) => Promise<JobRows>;
  logger: Logger;
}

export interface RepairReport {
  flushes: number;
  rowsReinserted: number;
  rollupsRebuilt: number;
}

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function repairInterruptedFlushes(o: RepairOptions): Promise<RepairReport> {
  const report: RepairReport = { flushes: 0, rowsReinserted: 0, rollupsRebuilt: 0 };
  const open = await o.manifests.openFlushes();
  if (open.length === 0) return report;
  const db = o.database;
  const views = await selectOfViews(o.client, db);

  for (const { flushId, manifest } of open) {
    if (!manifest) {
      await o.manifests.dropOpen(flushId);
      continue;
    }
    const jobs = (await Promise.all(manifest.jobIds.map((id) => o.loadJob(id)))).filter((j): j is Job<BatchJob> => !!j);
    const table = manifest.table as RawTable;
    const time = rawTableTime[table];
    const rows: (Row & { batch_id: string })[] = [];
    for (const j of jobs) {
      const records = await o.loadRows(j).then(rowObjects, (err: unknown) => {
        if (!(err instanceof RowsMissingError)) throw err;
        o.logger.error({ flushId, job: j.id, err: err.message }, 'flush member without rows on repair');
        return [];
      });
      for (const r of records) rows.push({ ...r, batch_id: j.data.batch_id });
    }
    const batchIds = [...new Set(jobs.map((j) => j.data.batch_id))];
    if (rows.length === 0 || batchIds.length === 0) {
      await o.manifests.dropOpen(flushId);
      continue;
    }
    const times = rows.map((r) => String(r[time])).sort();
    // The primary key starts with the time, so bounding it keeps this lookup cheap on big tables.
    const slice = `${time} BETWEEN ${quote(times[0]!)} AND ${quote(times[times.length - 1]!)} AND batch_id IN (${batchIds.map(quote).join(', ')})`;

    const present = await count(o.client, `SELECT count() AS n FROM ${db}.${table} WHERE ${slice}`);
    if (present !== rows.length) {
      if (present > 0) {
        await o.client.command({ query: `ALTER TABLE ${db}.${table} DELETE WHERE ${slice}`, clickhouse_settings: { mutations_sync: '1' } });
      }
      await o.client.insert({
        table: `${db}.${table}`,
        values: rows,
        format: 'JSONEachRow',
        // a fresh token: the interrupted one may sit in the deduplication log without its part
        clickhouse_settings: { insert_deduplicate: 1, insert_deduplication_token: `repair:${randomUUID()}` },
      });
      report.rowsReinserted += rows.length;
    }

    for (const r of rollups.filter((x) => x.source === table)) {
      const select = views.get(r.view);
      if (!select) throw new Error(`materialized view ${r.view} not found`);
      const touched = `SELECT DISTINCT ${r.rebuild.kind === 'buckets' ? r.rebuild.expr : r.rebuild.column} FROM ${db}.${table} WHERE ${slice}`;
      if (r.rebuild.kind === 'buckets') {
        await o.client.command({
          query: `ALTER TABLE ${db}.${r.target} DELETE WHERE ${r.rebuild.column} IN (${touched})`,
          clickhouse_settings: { mutations_sync: '1' },
        });
      }
      // With the session's token (the raw re-insert's), this insert lost blocks as "repeats" of
      // what the same repair had just fed a rollup fed by another (test/crash-repair.test.ts).
      await o.client.command({
        query: `INSERT INTO ${db}.${r.target} SELECT * FROM (${select}) WHERE ${r.rebuild.column} IN (${touched})`,
        clickhouse_settings: undeduplicatedInsert,
      });
      report.rollupsRebuilt++;
    }
    await o.manifests.markDone(flushId, batchIds);
    report.flushes++;
    o.logger.warn({ flushId, table, rows: rows.length, present }, 'repaired a flush interrupted by a crash');
  }
  return report;
}

async function count(client: ClickHouseClient, sql: string): Promise<number> {
  const rows = await (await client.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string | number }>();
  return Number(rows[0]?.n ?? 0);
}

/** The SELECT of each materialized view, as the engine stored it (sql/ stays the one definition). */
async function selectOfViews(client: ClickHouseClient, db: string): Promise<Map<string, string>> {
  const rows = await (
    await client.query({
      query: `SELECT name, as_select FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView'`,
      query_params: { db },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; as_select: string }>();
  return new Map(rows.map((r) => [r.name, r.as_select]));
}

