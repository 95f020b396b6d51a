import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createClickHouse, undeduplicatedInsert, type ClickHouseClient } from '../clickhouse/client.js';
import { migrate } from '../clickhouse/migrate.js';
import { loadConfig } from '../config/env.js';
import { recordKinds, type Row } from '../schema/records.js';
import type { BatchJob, BatchJobV1 } from '../queue/jobs.js';
import { inlineJobRows } from '../queue/job-rows.js';
import { FlushManifests } from '../workers/flush-manifests.js';
import { repairInterruptedFlushes } from '../workers/crash-repair.js';

/**
 * Crash repair, deterministically: a flush left open with its insert half-applied (the faults test
 * kills a real worker at random moments; this one builds the states a kill can leave). Every rollup
 * over request logs must come out equal to the raw rows, link_activity_lookup included: its view
 * reads link_activity, so repair rebuilds it from the link_activity it has just rebuilt.
 */
const dir = mkdtempSync(join(tmpdir(), 'obs-repair-'));
const db = 'observability';
let ch: ClickHouseClient;
let redis: Redis;
const prefix = `repair-${randomUUID()}`;
const logger = pino({ level: 'silent' });
const start = Date.UTC(2026, 9, 25); // Oct 25: the logs below span October and November

beforeAll(async () => {
  ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
  await migrate(ch, { database: db });
  redis = new Redis(process.env.REDIS_URL!);
});

afterAll(async () => {
  await ch?.close();
  redis?.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** n request logs over 12 days from `start`, on 7 links, every 4th an error. */
function logs(tag: string, n: number): Row[] {
  return Array.from({ length: n }, (_, i) =>
    recordKinds.logs.mapping.toRow(
      recordKinds.logs.schema.parse({
        request_id: `${tag}-${i}`,
        timestamp: start + ((i * 7919) % 17_280) * 60_000, // spread over 12 days by the minute
        method: 'GET',
        endpoint: '/api/accounts/',
        status_code: i % 4 === 0 ? 503 : 200,
        link_id: `link-${i % 7}`,
        institution: `bank-${i % 3}`,
        customer_id: 'acme',
      }) as never,
    ),
  );
}

/** As the worker inserts: every setting sent along (the embedded engine keeps the last ones on its session). */
const insertLogs = (rows: Row[], batchId: string) =>
  ch.insert({
    table: `${db}.request_logs`,
    values: rows.map((r) => ({ ...r, batch_id: batchId })),
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplicate: 1, insert_deduplication_token: randomUUID(), deduplicate_blocks_in_dependent_materialized_views: 1 },
  });

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await ch.query({ query: sql, format: 'JSONEachRow' })).json();
}

/** Each log rollup beside the same figures from the raw logs. */
async function rollupsAgainstRaw() {
  const byLink = (from: string, n: string, e: string, bucket: string) =>
    rows(`SELECT ${bucket} AS b, link_id, toString(${n}) AS n, toString(${e}) AS e FROM ${db}.${from} GROUP BY b, link_id ORDER BY b, link_id`);
  return {
    activity: [await byLink('link_activity', 'sum(requests)', 'sum(errors)', 'day'), await byLink('request_logs', 'count()', 'countIf(status_code >= 400)', 'toDate(timestamp)')],
    lookup: [
      await byLink('link_activity_lookup', 'sum(requests)', 'sum(errors)', 'month'),
      await byLink('request_logs', 'count()', 'countIf(status_code >= 400)', 'toStartOfMonth(timestamp)'),
    ],
    errors: [
      await rows(`SELECT toString(sum(requests)) AS n, toString(sum(errors)) AS e FROM ${db}.request_errors_1m`),
      await rows(`SELECT toString(count()) AS n, toString(countIf(status_code >= 400)) AS e FROM ${db}.request_logs`),
    ],
    errors5m: [
      await rows(`SELECT bucket AS b, institution, toString(sum(requests)) AS n, toString(sum(errors)) AS e FROM ${db}.request_errors_5m GROUP BY ALL ORDER BY ALL`),
      await rows(`SELECT toStartOfFiveMinutes(timestamp) AS b, institution, toString(count()) AS n, toString(countIf(status_code >= 400)) AS e FROM ${db}.request_logs GROUP BY ALL ORDER BY ALL`),
    ],
  };
}

/** A flush of `jobs` v1 jobs recorded as open, as the worker records it before its insert. */
async function openFlush(jobs: BatchJobV1[]): Promise<FlushManifests> {
  const manifests = new FlushManifests(redis, prefix);
  const flushId = randomUUID();
  expect(await manifests.record(flushId, { table: 'request_logs', kind: 'logs', jobIds: jobs.map((j) => j.batch_id) })).toBe(true);
  return manifests;
}

function repair(manifests: FlushManifests, jobs: BatchJobV1[]) {
  const byId = new Map(jobs.map((j) => [j.batch_id, { id: j.batch_id, data: j as BatchJob } as Job<BatchJob>]));
  return repairInterruptedFlushes({
    client: ch,
    database: db,
    manifests,
    loadJob: async (id) => byId.get(id),
    loadRows: async (job) => inlineJobRows(job.data as BatchJobV1),
    logger,
  });
}

const job = (tag: string, n: number): BatchJobV1 => ({ v: 1, kind: 'logs', batch_id: `${tag}-batch`, received_at: Date.now(), rows: logs(tag, n) });

describe('crash repair', () => {
  it('rebuilds every log rollup, link_activity_lookup after link_activity, when the raw part landed half', async () => {
    await insertLogs(logs('before', 300), 'before-batch'); // written by an earlier flush, untouched
    const crashed = [job('a', 120), job('b', 80)];
    // The engine died mid-insert: half of the flush's rows (and what the views made of them) landed.
    await insertLogs(crashed[0]!.rows.slice(0, 60), crashed[0]!.batch_id);
    const manifests = await openFlush(crashed);

    const report = await repair(manifests, crashed);
    expect(report.flushes).toBe(1);
    expect(report.rowsReinserted).toBe(200);
    const { activity, lookup, errors, errors5m } = await rollupsAgainstRaw();
    expect(lookup[1]!.length).toBeGreaterThan(7); // 7 links over two months
    expect(activity[0]).toEqual(activity[1]);
    expect(lookup[0]).toEqual(lookup[1]);
    expect(errors[0]).toEqual(errors[1]);
    expect(errors5m[1]!.length).toBeGreaterThan(7);
    expect(errors5m[0]).toEqual(errors5m[1]);
    expect(errors[1]).toEqual([{ n: '500', e: '125' }]);
    expect(await manifests.openFlushes()).toEqual([]);
  });

  it('rebuilds the rollups when the raw part landed whole but a rollup part landed twice', async () => {
    const crashed = [job('c', 90)];
    await insertLogs(crashed[0]!.rows, crashed[0]!.batch_id);
    // a rollup part of the same insert committed a second time (no raw row behind it)
    await ch.command({
      query: `INSERT INTO ${db}.link_activity_lookup SELECT * FROM ${db}.link_activity_lookup WHERE month = toDate('2026-11-01')`,
      clickhouse_settings: undeduplicatedInsert,
    });
    await ch.command({
      query: `INSERT INTO ${db}.request_errors_5m SELECT * FROM ${db}.request_errors_5m WHERE bucket IN (SELECT toStartOfFiveMinutes(timestamp) FROM ${db}.request_logs WHERE batch_id = 'c-batch')`,
      clickhouse_settings: undeduplicatedInsert,
    });
    const manifests = await openFlush(crashed);

    const report = await repair(manifests, crashed);
    expect(report.rowsReinserted).toBe(0);
    const { activity, lookup, errors, errors5m } = await rollupsAgainstRaw();
    expect(activity[0]).toEqual(activity[1]);
    expect(lookup[0]).toEqual(lookup[1]);
    expect(errors[0]).toEqual(errors[1]);
    expect(errors5m[0]).toEqual(errors5m[1]);
  });
});
