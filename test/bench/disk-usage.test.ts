import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateQueryData, waitForMerges } from '../../bench/query-data.js';
import { formatDiskUsage, measureDiskUsage, type DiskUsage } from '../../bench/disk-usage.js';
import { Progress } from '../../bench/progress.js';
import { summarise } from '../../bench/report.js';
import { openMigratedEngine, type MigratedEngine } from '../helpers/migrated-engine.js';

// The bench's disk figures on the real engine: the query phase's generated logs, after merges.
const LOGS = 60_000;
let engine: MigratedEngine;
let usage: DiskUsage;

beforeAll(async () => {
  engine = await openMigratedEngine('disk-usage');
  const progress = new Progress(true);
  await generateQueryData({ client: engine.ch, database: 'observability', requestLogs: LOGS, existing: 0, nowMs: Date.now(), days: 8, progress });
  await waitForMerges({ client: engine.ch, database: 'observability', timeoutMs: 60_000, progress });
  usage = await measureDiskUsage(engine.ch, 'observability');
}, 180_000);
afterAll(() => engine?.close());

const one = async <T>(query: string) => (await (await engine.ch.query({ query, format: 'JSONEachRow' })).json<T>())[0]!;

describe('bytes on disk per request log', () => {
  it('lists every raw table, rollup target and projection with the rows they hold', async () => {
    expect(usage.requestLogs).toBe(LOGS);
    const names = usage.tables.map((t) => `${t.kind} ${t.table}${t.projection ? `.${t.projection}` : ''}`);
    for (const raw of ['request_logs', 'webhook_attempts', 'links', 'request_logs.by_link', 'webhook_attempts.by_link']) expect(names).toContain(`raw ${raw}`);
    for (const rollup of ['request_stats_1m', 'request_status_1m', 'request_errors_1m', 'request_errors_5m', 'link_activity', 'link_activity_lookup', 'links_latest', 'webhook_stats_1m']) {
      expect(names).toContain(`rollup ${rollup}`);
    }
    // a view since sql/018: no parts of its own, no bytes
    expect(usage.tables.map((t) => t.table)).not.toContain('link_activity_monthly');
    const stats = usage.tables.find((t) => t.table === 'request_stats_1m')!;
    const { n } = await one<{ n: string }>('SELECT count() AS n FROM observability.request_stats_1m');
    expect(stats.rows).toBe(Number(n));
  });

  it('divides each table\'s compressed bytes by the request log count, and keeps projections out of their table\'s bytes', async () => {
    const logs = usage.tables.find((t) => t.table === 'request_logs' && !t.projection)!;
    const projection = usage.tables.find((t) => t.table === 'request_logs' && t.projection === 'by_link')!;
    const parts = await one<{ c: string; d: string }>(
      "SELECT sum(data_compressed_bytes) AS c, sum(bytes_on_disk) AS d FROM system.parts WHERE database = 'observability' AND table = 'request_logs' AND active",
    );
    expect(logs.compressedBytes).toBe(Number(parts.c));
    expect(logs.compressedBytesPerLog).toBeCloseTo(Number(parts.c) / LOGS, 1);
    // the parent parts' size on disk includes the projection's directory: counted once, on the projection's row
    expect(logs.bytesOnDisk + projection.bytesOnDisk).toBe(Number(parts.d));
    expect(projection.rows).toBe(LOGS);
    for (const t of usage.tables) {
      expect(t.compressedBytes, t.table).toBeGreaterThan(0);
      expect(t.compressedBytes, t.table).toBeLessThan(t.uncompressedBytes);
      expect(t.bytesOnDisk, t.table).toBeGreaterThanOrEqual(t.compressedBytes);
    }
    const total = usage.tables.reduce((n, t) => n + t.compressedBytes, 0);
    expect(usage.total.compressedBytesPerLog).toBeCloseTo(total / LOGS, 0);
  });

  it('breaks the raw tables down by column with each column\'s codec', () => {
    const body = usage.rawColumns.find((c) => c.table === 'request_logs' && c.column === 'response_body')!;
    expect(body.codec).toMatch(/ZSTD/);
    expect(usage.rawColumns.filter((c) => c.table === 'request_logs').map((c) => c.column)).toContain('request_id');
  });

  it('is printed per size and summarised in the report', () => {
    const text = formatDiskUsage([usage]);
    expect(text).toContain(`Disk at ${LOGS} request logs`);
    expect(text).toMatch(/raw\s+request_logs \(projection by_link\)/);
    const rows = summarise({ version: 1, mode: 'quick', startedAt: '', finishedAt: '', machine: { cores: 2 } as never, options: {}, disk: [usage] });
    const total = rows.find((r) => r.figure === 'disk at 60k logs: all tables per request log, compressed / on disk')!;
    expect(total.value).toBe(`${usage.total.compressedBytesPerLog} / ${usage.total.bytesOnDiskPerLog}`);
  });
});
