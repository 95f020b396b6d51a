import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, sqlDir } from '../../clickhouse/migrate.js';
import { openMigratedEngine, type MigratedEngine } from '../helpers/migrated-engine.js';
import { generateQueryData } from '../../bench/query-data.js';
import { Progress } from '../../bench/progress.js';

// sql/012_codecs.sql on the embedded engine: the codecs it names are the columns' codecs, the
// tables' default codec reaches their projections, and values written and merged read back unchanged.
const DB = 'observability';
const migration = loadMigrations(DB).find((m) => m.name === '012_codecs.sql')!;
const columnCodecs = migration.statements.flatMap((s) => {
  const m = /^ALTER TABLE \w+\.(\w+) MODIFY COLUMN (\w+) CODEC\((.+)\)$/.exec(s);
  return m ? [{ table: m[1]!, column: m[2]!, codec: m[3]! }] : [];
});
const tableDefaults = migration.statements.flatMap((s) => {
  const m = /^ALTER TABLE \w+\.(\w+) MODIFY SETTING default_compression_codec = '(.+)'$/.exec(s);
  return m ? [{ table: m[1]!, codec: m[2]! }] : [];
});

let engine: MigratedEngine;
const rows = async <T>(query: string) => (await (await engine.ch.query({ query, format: 'JSONEachRow' })).json<T>());
/** 012's tables that a later migration replaced by a view (sql/018: link_activity_monthly): no codec, no parts */
let nowViews = new Set<string>();
const stillTables = () => tableDefaults.filter((t) => !nowViews.has(t.table));

beforeAll(async () => {
  engine = await openMigratedEngine('codecs');
  const views = await rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DB}' AND engine = 'View'`);
  nowViews = new Set(views.map((v) => v.name).filter((name) => tableDefaults.some((t) => t.table === name)));
});
afterAll(() => engine?.close());

describe('sql/012_codecs.sql', () => {
  it('names codecs for timestamps, ids and bodies, and every statement is one the cluster rendering knows', () => {
    expect(migration.statements.length).toBe(columnCodecs.length + tableDefaults.length);
    expect(() => loadMigrations(DB, sqlDir, 'obs_cluster')).not.toThrow();
    expect(columnCodecs.some((c) => c.table === 'request_logs' && c.column === 'timestamp')).toBe(true);
    expect(columnCodecs.some((c) => c.table === 'request_logs' && c.column === 'response_body')).toBe(true);
    // ids and bodies take the raw tables' default codec unless named
    expect(tableDefaults.map((t) => t.table)).toEqual(expect.arrayContaining(['request_logs', 'webhook_attempts']));
  });

  it('is applied: system.columns shows each column codec, system.tables each default codec', async () => {
    const columns = await rows<{ table: string; name: string; codec: string }>(
      `SELECT table, name, compression_codec AS codec FROM system.columns WHERE database = '${DB}'`,
    );
    for (const c of columnCodecs) {
      expect(columns.find((x) => x.table === c.table && x.name === c.column)?.codec, `${c.table}.${c.column}`).toBe(`CODEC(${c.codec})`);
    }
    const tables = await rows<{ name: string; q: string }>(`SELECT name, create_table_query AS q FROM system.tables WHERE database = '${DB}'`);
    expect([...nowViews]).toEqual(['link_activity_monthly']);
    for (const t of stillTables()) expect(tables.find((x) => x.name === t.table)?.q, t.table).toContain(`default_compression_codec = '${t.codec}'`);
    // a codec-only MODIFY COLUMN keeps the column's type and default
    const [ingested] = await rows<{ type: string; d: string }>(
      `SELECT type, default_expression AS d FROM system.columns WHERE database = '${DB}' AND table = 'request_logs' AND name = 'ingested_at'`,
    );
    expect(ingested).toEqual({ type: "DateTime64(3, 'UTC')", d: 'now64(3)' });
  });

  it('keeps every value: generated rows read back equal to their source after inserts and a merge, through the table and its projection', async () => {
    // within the raw tables' TTL, or the rows are dropped on insert
    const now = Math.floor(Date.now() / 1000) * 1000;
    await generateQueryData({ client: engine.ch, database: DB, requestLogs: 30_000, existing: 0, nowMs: now, days: 8, progress: new Progress(true) });
    const digest = async () =>
      (await rows<{ h: string; n: string; ts: string }>(
        `SELECT toString(sum(cityHash64(request_id, timestamp, duration_ms, link_id, response_body, ingested_at))) AS h, count() AS n, toString(sum(toUnixTimestamp64Milli(timestamp))) AS ts FROM ${DB}.request_logs`,
      ))[0]!;
    const before = await digest();
    // the values the generator wrote, recomputed from the row numbers (bench/query-data.ts)
    const [expected] = await rows<{ ts: string }>(
      `SELECT toString(sum(${now} - (cityHash64(number, 1) % ${8 * 86_400_000}))) AS ts FROM numbers(30000)`,
    );
    expect(Number(before.n)).toBe(30_000);
    expect(before.ts).toBe(expected!.ts);
    await engine.ch.command({ query: `OPTIMIZE TABLE ${DB}.request_logs FINAL` });
    expect(await digest()).toEqual(before);
    // the Link detail query shape, answered from the by_link projection
    const link = 'lnk_7';
    const direct = await rows<{ n: string; h: string }>(
      `SELECT count() AS n, toString(sum(cityHash64(request_id, timestamp, response_body))) AS h FROM ${DB}.request_logs WHERE link_id = '${link}' SETTINGS optimize_use_projections = 0`,
    );
    const viaProjection = await rows<{ n: string; h: string }>(
      `SELECT count() AS n, toString(sum(cityHash64(request_id, timestamp, response_body))) AS h FROM ${DB}.request_logs WHERE link_id = '${link}' SETTINGS force_optimize_projection_name = 'by_link'`,
    );
    expect(Number(direct[0]!.n)).toBeGreaterThan(0);
    expect(viaProjection).toEqual(direct);
  });

  it('writes new parts and their projections with the table default codec', async () => {
    for (const t of stillTables()) {
      const parts = await rows<{ codec: string }>(`SELECT DISTINCT default_compression_codec AS codec FROM system.parts WHERE database = '${DB}' AND table = '${t.table}' AND active`);
      expect(parts.map((p) => p.codec), t.table).toEqual([t.codec]);
      const projections = await rows<{ codec: string }>(`SELECT DISTINCT default_compression_codec AS codec FROM system.projection_parts WHERE database = '${DB}' AND table = '${t.table}' AND active`);
      for (const p of projections) expect(p.codec, `${t.table} projection`).toBe(t.codec);
    }
  });

  it('re-applied to a table that has rows, changes metadata only: no mutation, rows unchanged', async () => {
    const before = await rows<{ n: string }>(`SELECT count() AS n FROM ${DB}.request_logs`);
    // migration 010's MATERIALIZE PROJECTION left mutations of its own
    const mutations = () => rows<{ id: string }>(`SELECT mutation_id AS id FROM system.mutations WHERE database = '${DB}' ORDER BY id`);
    const earlier = await mutations();
    const onViews = (s: string) => [...nowViews].some((v) => s.startsWith(`ALTER TABLE ${DB}.${v} `));
    for (const s of migration.statements.filter((x) => !onViews(x))) await engine.ch.command({ query: s });
    expect(await mutations()).toEqual(earlier);
    expect(await rows<{ n: string }>(`SELECT count() AS n FROM ${DB}.request_logs`)).toEqual(before);
  });
});
