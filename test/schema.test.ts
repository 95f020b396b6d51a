import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { loadMigrations, migrate, renderSql, splitStatements, sqlDir } from '../clickhouse/migrate.js';
import { rawTableTime, rollups } from '../clickhouse/tables.js';
import {
  chTime, jsonDepth, jsonLimits, kindNames, pipelineColumns, recordKinds, requestLogRow, requestLogSchema, webhookAttemptRow, webhookAttemptSchema,
} from '../schema/records.js';
import { safeParseFast } from '../schema/fast-parse.js';
import { openMigratedEngine, type MigratedEngine } from './helpers/migrated-engine.js';

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

/** The schema's MergeTree tables (schema_migrations aside) with their engine and settings. */
const mergeTreeTables = async () =>
  (
    await ch.query({
      query: `SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' AND name != 'schema_migrations'`,
      query_params: { db },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; engine_full: string }>();

let engine: MigratedEngine | undefined;
beforeAll(async () => {
  engine = await openMigratedEngine('schema', db);
  ch = engine.ch;
});
afterAll(async () => {
  await engine?.close();
});

describe('schema', () => {
  it('raw table columns are exactly the row mapping of the zod schemas plus pipeline columns', async () => {
    for (const kind of kindNames) {
      const { schema, mapping, table, example } = recordKinds[kind];
      const row = mapping.toRow(schema.parse(example) as never);
      expect(await columnsOf(table)).toEqual([...Object.keys(row), ...pipelineColumns]);
    }
  });

  it('a row mapping gives the same row as an object and as values in column order, batch id last', () => {
    for (const kind of kindNames) {
      const { schema, mapping, example } = recordKinds[kind];
      const record = schema.parse(example);
      const row = mapping.toRow(record as never);
      expect(mapping.columns, kind).toEqual(Object.keys(row));
      expect(mapping.toValues(record as never, 'batch-1'), kind).toEqual([...Object.values(row), 'batch-1']);
    }
    expect(requestLogRow(requestLogSchema.parse(recordKinds.logs.example))).toMatchObject({ timestamp: '2026-02-28 22:59:59.500', duration_ms: 12.5, response_body: '{"detail":"x"}' });
  });

  it('formats instants as DateTime64(3) text in UTC, across days, months and leap days, in any order', () => {
    const day = 86_400_000;
    const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    const instants = [Date.UTC(2000, 0, 1), Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(2099, 11, 31, 12, 0, 0, 7)];
    for (let i = 0; i < 2000; i++) instants.push(Date.UTC(2000, 0, 1) + Math.floor(Math.random() * 100 * 365 * day));
    for (let k = 0; k < 50; k++) instants.push(Date.UTC(2026, 0, 1) + k * day - 1, Date.UTC(2026, 0, 1) + k * day); // each side of midnight, alternating days
    for (const ms of instants) expect(chTime(ms), String(ms)).toBe(iso(ms));
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
      expect(ddl).toContain(`FROM ${db}.${r.from ?? r.source}`);
      if (r.from) {
        // fed by an earlier rollup of the same raw table: repair rebuilds that one first
        const feeder = rollups.findIndex((x) => x.target === r.from);
        expect(feeder, r.view).toBeGreaterThanOrEqual(0);
        expect(feeder, r.view).toBeLessThan(rollups.indexOf(r));
        expect(rollups[feeder]!.source).toBe(r.source);
      }
      expect(await columnsOf(r.target)).toContain(r.rebuild.column);
    }
    expect(Object.keys(rawTableTime).sort()).toEqual(kindNames.map((k) => recordKinds[k].table).sort());
  });

  it('sets a deduplication window on every MergeTree table, rollup targets included', async () => {
    const tables = await mergeTreeTables();
    expect(tables.length).toBeGreaterThanOrEqual(8);
    for (const t of tables) expect(t.engine_full, t.name).toMatch(/non_replicated_deduplication_window = [1-9]/);
  });

  it('only link_activity_lookup is merged whole after an age (sql/017): Active links reads each part', async () => {
    const forced = (await mergeTreeTables()).flatMap((t) => {
      const age = /min_age_to_force_merge_seconds = (\d+)/.exec(t.engine_full)?.[1];
      return age ? [[t.name, Number(age)] as const] : [];
    });
    expect(forced).toEqual([['link_activity_lookup', 120]]);
  });

  it('writes link_activity_lookup in LZ4 (sql/019), every other table keeps its own default codec', async () => {
    const defaults = Object.fromEntries(
      (await mergeTreeTables()).map((t) => [t.name, /default_compression_codec = '([^']+)'/.exec(t.engine_full)?.[1]]),
    );
    expect(defaults.link_activity_lookup).toBe('LZ4');
    expect(defaults.request_stats_1m).toBe('ZSTD(1)');
    expect(defaults.request_logs).toBe('ZSTD(1)');
    const now = chTime(Date.now());
    await ch.insert({
      table: `${db}.link_activity_lookup`,
      values: [{ month: now.slice(0, 8) + '01', link_id: 'l-lz4', link_hash: '1', institution: 'x', customer_id: 'c', last_request_at: now, requests: '1', errors: '0' }],
      format: 'JSONEachRow',
    });
    const parts = await (
      await ch.query({
        query: `SELECT DISTINCT default_compression_codec AS codec FROM system.parts WHERE database = {db:String} AND table = 'link_activity_lookup' AND active`,
        query_params: { db },
        format: 'JSONEachRow',
      })
    ).json<{ codec: string }>();
    expect(parts).toEqual([{ codec: 'LZ4' }]);
  });

  it('the raw tables merge wider (merge_selector_base 20), on a new database and on one migrated before 009', async () => {
    const engines = async () => (await mergeTreeTables()).map((t) => [t.name, /merge_selector_base = (\d+)/.exec(t.engine_full)?.[1]] as const);
    const raw = Object.keys(rawTableTime);
    const expected = (await engines()).map(([name]) => [name, raw.includes(name) ? '20' : undefined]);
    expect(await engines()).toEqual(expected);
    expect(expected.filter(([, v]) => v === '20').length).toBe(raw.length);

    // A database from before 009: the setting reset on the tables 009 alters (a raw table added
    // later sets it in its own CREATE) and the migration unrecorded. Migrating applies 009 alone,
    // and the rows already in the raw table stay.
    const now = chTime(Date.now());
    await ch.insert({ table: `${db}.links`, values: [{ link_id: 'l-before-009', status: 'active', access_mode: 'live', institution: 'x', created_at: now, updated_at: now, external_id: '', customer_id: 'c', batch_id: 'b' }], format: 'JSONEachRow' });
    const in009 = [...readFileSync(join(sqlDir, '009_raw_merge_selector.sql'), 'utf8').matchAll(/ALTER TABLE \{\{db\}\}\.(\w+)/g)].map((m) => m[1]!);
    expect(in009.length).toBeGreaterThan(0);
    for (const t of in009) await ch.command({ query: `ALTER TABLE ${db}.${t} RESET SETTING merge_selector_base` });
    await ch.command({ query: `ALTER TABLE ${db}.schema_migrations DELETE WHERE name LIKE '009_%'`, clickhouse_settings: { mutations_sync: '1' } });
    expect((await engines()).filter(([name]) => in009.includes(name)).every(([, v]) => v === undefined)).toBe(true);
    expect(await migrate(ch, { database: db })).toEqual(['009_raw_merge_selector.sql']);
    expect(await engines()).toEqual(expected);
    const [kept] = await (await ch.query({ query: `SELECT count() AS n FROM ${db}.links WHERE link_id = 'l-before-009'`, format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(kept!.n)).toBe(1);
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

/**
 * Free-form JSON (error bodies, payloads) is held to a depth and a size. The size check skips
 * building the text when an upper bound of it is under the limit: values whose text is as long as
 * the bound allows (escaped control characters, lone surrogates, the longest numbers...) sit on
 * both sides of the limit here, and the answer must be what the text itself says.
 */
describe('free-form JSON limits', () => {
  const max = jsonLimits.responseBodyBytes;
  const expected = (v: unknown, maxBytes: number) =>
    jsonDepth(v) > jsonLimits.maxDepth
      ? `nested deeper than ${jsonLimits.maxDepth} levels`
      : Buffer.byteLength(JSON.stringify(v)) > maxBytes
        ? `larger than ${maxBytes} bytes as JSON`
        : undefined;
  /** the longest n with JSON of make(n) within max bytes, and n + 1 */
  const straddle = (make: (n: number) => unknown): unknown[] => {
    const fits = (n: number) => Buffer.byteLength(JSON.stringify(make(n))) <= max;
    let [lo, hi] = [0, 1];
    while (fits(hi)) [lo, hi] = [hi, hi * 2];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    return [make(lo), make(hi)];
  };
  const nest = (levels: number, leaf: unknown, array: boolean): unknown => {
    let v = leaf;
    for (let i = 0; i < levels; i++) v = array ? [v] : { d: v };
    return v;
  };
  const Cls = class {
    x = 'y'.repeat(max);
  };
  const bodies: unknown[] = [
    ...['\u0001', '\ud800', '\udc00', '😀', 'é', '€', '"', '\\', 'a', '\u2028'].flatMap((c) => straddle((n) => c.repeat(n))),
    ...['\u0001', '\ud800', '😀'].flatMap((c) => straddle((n) => ({ [c.repeat(n)]: 1 }))),
    ...straddle((n) => Array.from({ length: n }, () => -0.0000012345678901234567)),
    ...straddle((n) => Array.from({ length: n }, () => false)),
    ...straddle((n) => Array.from({ length: n }, () => null)),
    ...straddle((n) => new Array(n)), // holes are 'null'
    ...straddle((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`\u0001${i}`, '\u0002']))),
    ...straddle((n) => ({ a: { b: ['\u0003'.repeat(n)], c: undefined } })),
    // keys of lone surrogates (6 bytes each as JSON), null values: as long as the bound
    ...straddle((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [[i % 31, (i / 31) % 31, i / 961].map((d) => String.fromCharCode(0xd800 + Math.floor(d))).join(''), null]))),
    ...straddle((n) => Array.from({ length: n }, () => [])),
    ...straddle((n) => Array.from({ length: n }, () => ({}))),
    // boxed primitives and a hidden toJSON are written unlike their properties
    ...straddle((n) => Array.from({ length: n }, () => Object(-0.0000012345678901234567) as object)),
    ...straddle((n) => Array.from({ length: n }, () => Object(false) as object)),
    ...straddle((n) => Object.defineProperty({}, 'toJSON', { value: () => 'x'.repeat(n) })),
    ...straddle((n) => Object.defineProperty([], 'toJSON', { value: () => 'x'.repeat(n) })),
    nest(jsonLimits.maxDepth, 'x', true), nest(jsonLimits.maxDepth + 1, 'x', true),
    nest(jsonLimits.maxDepth, 'x', false), nest(jsonLimits.maxDepth + 1, 'x', false),
    nest(jsonLimits.maxDepth + 1, '\u0001'.repeat(max), false),
    // what JSON.stringify shapes itself: measured from its text
    { a: { toJSON: () => 'x'.repeat(max) } }, [{ toJSON: () => 1 }], { when: new Date(0) }, new Cls(), Object.assign(Object.create(null), { a: '\u0001'.repeat(max / 8) }),
    'short', 12, null, { code: 'login_error', message: 'm' },
  ];

  it('error bodies: accepted or refused exactly as their JSON text says, and stored as that text', () => {
    const base = { request_id: 'r', timestamp: 1_763_600_000_000, method: 'GET', endpoint: '/e', status_code: 500 };
    for (const [i, body] of bodies.entries()) {
      for (const parse of [(v: unknown) => requestLogSchema.safeParse(v), (v: unknown) => safeParseFast(requestLogSchema, v)]) {
        const r = parse({ ...base, response_body: body });
        const want = expected(body, max);
        expect(r.success ? undefined : r.error.issues[0]?.message, `body ${i}`).toBe(want);
        if (r.success) expect(requestLogRow(r.data).response_body, `body ${i}`).toBe(JSON.stringify(body));
      }
    }
  });

  it('webhook payloads: the same at their own limit', () => {
    const base = { webhook_id: 'w', event: 'e', type: 'T', link_id: 'l', attempt: 1, url: 'u', status_code: null, timestamp: 1_763_600_000_000 };
    const pMax = jsonLimits.payloadBytes;
    const blob = (c: string, bytes: number) => ({ blob: c.repeat(Math.floor((bytes - 11) / 6)) }); // {"blob":"..."} is 11 bytes and 6 a unit
    for (const payload of [blob('\u0001', pMax), blob('\u0001', pMax + 6), blob('\ud800', pMax + 6), { a: { b: 1 } }, nest(jsonLimits.maxDepth, 1, false)]) {
      const r = webhookAttemptSchema.safeParse({ ...base, payload });
      expect(r.success ? undefined : r.error.issues[0]?.message).toBe(expected(payload, pMax));
      if (r.success) expect(webhookAttemptRow(r.data).payload).toBe(JSON.stringify(r.data.payload));
    }
  });

  it('a BigInt still fails as JSON.stringify does', () => {
    expect(() => requestLogSchema.safeParse({ request_id: 'r', timestamp: 1_763_600_000_000, method: 'GET', endpoint: '/e', status_code: 500, response_body: { n: 1n } })).toThrow(/BigInt/);
  });
});
