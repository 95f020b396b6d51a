import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClickHouse, type ClickHouseClient } from '../clickhouse/client.js';
import { loadMigrations, migrate, renderSql, splitStatements } from '../clickhouse/migrate.js';
import { rawTableTime, rollups } from '../clickhouse/tables.js';
import { pipelineColumns, recordKinds, kindNames } from '../schema/records.js';
import { loadConfig } from '../config/env.js';

const dir = mkdtempSync(join(tmpdir(), 'obs-schema-'));
const db = 'observability';
let ch: ClickHouseClient;

const columnsOf = async (table: string) =>
  (
    await (
      await ch.query({
        query: `SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position`,
        query_params: { db, t: table },
        format: 'JSONEachRow',
      })
    ).json<{ name: string }>()
  ).map((r) => r.name);

beforeAll(async () => {
  ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
  await migrate(ch, { database: db });
});
afterAll(async () => {
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('schema', () => {
  it('raw table columns are exactly the row mapping of the zod schemas plus pipeline columns', async () => {
    const sample = {
      logs: { request_id: 'r', timestamp: 1_763_600_000_000, method: 'GET', endpoint: '/e', status_code: 500, error: { code: 'c', message: 'm' } },
      'webhook-attempts': {
        webhook_id: 'w', event: 'e', type: 'T', link_id: 'l', attempt: 1, url: 'u', status_code: null, timestamp: 1_763_600_000_000,
      },
      links: { link_id: 'l', status: 'valid', access_mode: 'single', institution: 'i', created_at: 1_763_600_000_000, updated_at: 1_763_600_000_000 },
    } as const;
    for (const kind of kindNames) {
      const { schema, toRow, table } = recordKinds[kind];
      const row = toRow(schema.parse(sample[kind]) as never);
      expect(await columnsOf(table)).toEqual([...Object.keys(row), ...pipelineColumns]);
    }
  });

  it('every materialized view is in the rollup registry, with its real target and source', async () => {
    const views = await (
      await ch.query({
        query: `SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView' ORDER BY name`,
        query_params: { db },
        format: 'JSONEachRow',
      })
    ).json<{ name: string; create_table_query: string }>();
    expect(views.map((v) => v.name)).toEqual(rollups.map((r) => r.view).sort());
    for (const r of rollups) {
      const ddl = views.find((v) => v.name === r.view)!.create_table_query;
      expect(ddl).toContain(`TO ${db}.${r.target}`);
      expect(ddl).toContain(`FROM ${db}.${r.source}`);
      expect(await columnsOf(r.target)).toContain(r.rebuild.column);
    }
    expect(Object.keys(rawTableTime).sort()).toEqual(kindNames.map((k) => recordKinds[k].table).sort());
  });

  it('sets a deduplication window on every MergeTree table, rollup targets included', async () => {
    const tables = await (
      await ch.query({
        query: `SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' AND name != 'schema_migrations'`,
        query_params: { db },
        format: 'JSONEachRow',
      })
    ).json<{ name: string; engine_full: string }>();
    expect(tables.length).toBeGreaterThanOrEqual(8);
    for (const t of tables) expect(t.engine_full, t.name).toMatch(/non_replicated_deduplication_window = [1-9]/);
  });

  it('re-running migrations applies nothing and a changed RAW_TTL_DAYS alters the raw tables', async () => {
    expect(await migrate(ch, { database: db })).toEqual([]);
    await migrate(ch, { database: db, rawTtlDays: 7 });
    const ttl = await (
      await ch.query({ query: `SELECT engine_full FROM system.tables WHERE database = '${db}' AND name = 'request_logs'`, format: 'JSONEachRow' })
    ).json<{ engine_full: string }>();
    expect(ttl[0]!.engine_full).toContain('toIntervalDay(7)');
  });

  it('renders placeholders strictly and splits statements', () => {
    expect(() => renderSql('SELECT {{nope}}', { db })).toThrow(/unknown placeholder/);
    expect(splitStatements('-- c\nSELECT 1;\nSELECT 2;\n')).toEqual(['SELECT 1', 'SELECT 2']);
    for (const m of loadMigrations(db)) for (const s of m.statements) expect(s).not.toMatch(/\{\{/);
  });
});
