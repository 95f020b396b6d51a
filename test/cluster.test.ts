import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClickHouse, type ClickHouseClient } from '../clickhouse/client.js';
import { copyRefused, loadMigrations, renderSql, splitStatements, sqlDir } from '../clickhouse/migrate.js';
import { ClusterRenderError, clusterMigrationsTable, localTableName, renderStatementForCluster, shardingKeys, shardLocalStatement } from '../clickhouse/cluster.js';
import { rollups } from '../clickhouse/tables.js';
import { kindNames, recordKinds } from '../schema/records.js';
import { loadConfig } from '../config/env.js';

/**
 * Cluster mode cannot start a cluster here (no Keeper, no second server), so it is checked by
 * rendering: every statement parses on the real engine, the rendering has the shape a cluster
 * needs, the single-node rendering is untouched, and the per-shard layer (local tables and views,
 * replication stripped) keeps rollups correct when rows are spread over two shards.
 */
const DB = 'observability';
const CLUSTER = 'obs_cluster';
const dir = mkdtempSync(join(tmpdir(), 'obs-cluster-'));
let ch: ClickHouseClient;

const plain = loadMigrations(DB);
const clustered = loadMigrations(DB, sqlDir, CLUSTER);
const all = (ms: typeof plain) => ms.flatMap((m) => m.statements);
const mergeTreeTables = all(plain)
  .map((s) => /^CREATE TABLE IF NOT EXISTS \w+\.(\w+)[\s\S]*ENGINE\s*=\s*\w*MergeTree/.exec(s)?.[1])
  .filter((t): t is string => t !== undefined);
/** Tables a later migration turned into a plain view (sql/018: link_activity_monthly). */
const replacedTables = all(plain)
  .map((s) => /^CREATE OR REPLACE VIEW \w+\.(\w+) AS\s/.exec(s)?.[1])
  .filter((t): t is string => t !== undefined && mergeTreeTables.includes(t));
/** Materialized views the migrations create and, later, drop (sql/018: link_activity_monthly_mv). */
const droppedViews = all(plain)
  .map((s) => /^DROP VIEW IF EXISTS \w+\.(\w+)$/.exec(s)?.[1])
  .filter((v): v is string => v !== undefined);
/** A migration's copy of existing rows: migrate only checks it on a cluster (clickhouse/migrate.ts). */
const isCopy = (s: string) => s.startsWith('INSERT INTO ');

beforeAll(() => {
  ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
});
afterAll(async () => {
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rows = async <T = Record<string, unknown>>(query: string, query_params: Record<string, unknown> = {}) =>
  (await ch.query({ query, query_params, format: 'JSONEachRow' })).json<T>();

describe('cluster rendering', () => {
  it('leaves the single-node rendering exactly as the files say, with the same checksums', () => {
    const files = readdirSync(sqlDir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
    expect(plain.map((m) => m.name)).toEqual(files);
    for (const m of plain) expect(m.statements).toEqual(splitStatements(renderSql(readFileSync(join(sqlDir, m.name), 'utf8'), { db: DB })));
    expect(loadMigrations(DB, sqlDir, undefined)).toEqual(plain);
    // schema_migrations records the file, whichever rendering applied it
    expect(clustered.map((m) => [m.name, m.checksum])).toEqual(plain.map((m) => [m.name, m.checksum]));
  });

  it('every rendered statement parses on the embedded engine, ON CLUSTER kept', async () => {
    const statements = [`CREATE DATABASE IF NOT EXISTS ${DB} ON CLUSTER ${CLUSTER}`, clusterMigrationsTable(DB, CLUSTER), ...all(clustered)];
    for (const statement of statements.filter((s) => !isCopy(s))) {
      const [r] = await rows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: statement });
      expect(r!.f, statement.slice(0, 80)).toContain(`ON CLUSTER ${CLUSTER}`);
    }
    // a table turned into a view also drops its local table
    expect(statements.length).toBe(2 + 2 * mergeTreeTables.length + all(plain).length - mergeTreeTables.length + replacedTables.length);
  });

  it('turns every MergeTree table into a Replicated local table and a Distributed table over it', () => {
    const out = all(clustered);
    const paths = new Set<string>();
    for (const t of mergeTreeTables) {
      const local = out.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${DB}.${localTableName(t)} ON CLUSTER ${CLUSTER}\n`));
      expect(local, t).toBeDefined();
      const engine = /ENGINE = (Replicated\w*MergeTree)\('([^']+)', '\{replica\}'/.exec(local!);
      expect(engine, t).not.toBeNull();
      expect(engine![2]).toContain('{shard}');
      paths.add(engine![2]!);
      // token deduplication needs the replicated window on every table, rollup targets included
      expect(local).toMatch(/SETTINGS replicated_deduplication_window = [1-9]/);
      expect(local).not.toContain('non_replicated_deduplication_window');

      const dist = out.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${DB}.${t} ON CLUSTER ${CLUSTER} AS ${DB}.${localTableName(t)}\n`));
      expect(dist, t).toBeDefined();
      const args = /ENGINE = Distributed\('(\w+)', '(\w+)', '(\w+)'(?:, (.+))?\)$/.exec(dist!);
      expect(args?.slice(1, 4)).toEqual([CLUSTER, DB, localTableName(t)]);
      const key = args![4];
      // link_activity_monthly was one until sql/018 made it a view
      const isRollupTarget = rollups.some((r) => r.target === t) || replacedTables.includes(t);
      if (isRollupTarget) expect(key, `${t} is written by its view on each shard, never through Distributed`).toBeUndefined();
      else {
        expect(key, `${t} needs a sharding key for inserts`).toBeDefined();
        // a retried insert must split into the same per-shard blocks for its token to deduplicate
        expect(key).not.toMatch(/rand|now|generateUUID/i);
      }
    }
    expect(paths.size, 'one replication path per table').toBe(mergeTreeTables.length);
    for (const raw of kindNames.map((k) => recordKinds[k].table)) expect(out.join('\n')).toContain(`'${localTableName(raw)}', ${shardingKeys[raw]})`);
  });

  it('sets merge settings, indexes and projections on the local tables, where the parts are, on every host', () => {
    const alters = all(plain).filter((s) => s.startsWith('ALTER TABLE'));
    expect(alters.some((a) => a.includes(' MODIFY SETTING '))).toBe(true);
    expect(alters.some((a) => a.includes(' ADD PROJECTION '))).toBe(true);
    const out = all(clustered);
    for (const a of alters) {
      const [, table, change] = /^ALTER TABLE \w+\.(\w+) ([\s\S]+)$/.exec(a)!;
      expect(out).toContain(`ALTER TABLE ${DB}.${localTableName(table!)} ON CLUSTER ${CLUSTER} ${change}`);
    }
    for (const change of ['MODIFY SETTING merge_selector_base = 20', 'ADD PROJECTION p (SELECT _part_offset ORDER BY link_id)']) {
      expect(() => renderStatementForCluster(`ALTER TABLE ${DB}.nope ${change}`, CLUSTER, { localTables: new Set(), rollupTargets: new Set() })).toThrow(ClusterRenderError);
    }
  });

  it('turns a table into a view on every host (sql/018): its view dropped, the Distributed name replaced, the local table dropped', async () => {
    expect(replacedTables).toEqual(['link_activity_monthly']);
    const out = all(clustered);
    const at = (s: string) => out.indexOf(s);
    const dropView = `DROP VIEW IF EXISTS ${DB}.link_activity_monthly_mv ON CLUSTER ${CLUSTER}`;
    const view = out.find((s) => s.startsWith(`CREATE OR REPLACE VIEW ${DB}.link_activity_monthly ON CLUSTER ${CLUSTER} AS\n`))!;
    const dropLocal = `DROP TABLE IF EXISTS ${DB}.${localTableName('link_activity_monthly')} ON CLUSTER ${CLUSTER}`;
    // the view stops writing into the table before the table goes; the view reads the Distributed lookup
    expect(at(dropView)).toBeGreaterThan(-1);
    expect(at(dropView)).toBeLessThan(at(view));
    expect(at(view)).toBeLessThan(at(dropLocal));
    expect(view).toContain(`FROM ${DB}.link_activity_lookup`);
    expect(view).not.toContain('_local');
    for (const s of [dropView, view, dropLocal]) expect((await rows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: s }))[0]!.f).toContain(`ON CLUSTER ${CLUSTER}`);
    // nothing after it re-points the old name at a local table that is gone
    expect(out.slice(at(dropLocal) + 1).join('\n')).not.toContain(localTableName('link_activity_monthly'));
    // A view replacing something that never was a table is just the view, ON CLUSTER.
    const ctx = { localTables: new Set<string>(), rollupTargets: new Set<string>() };
    expect(renderStatementForCluster(`CREATE OR REPLACE VIEW ${DB}.v AS\nSELECT 1`, CLUSTER, ctx)).toEqual([`CREATE OR REPLACE VIEW ${DB}.v ON CLUSTER ${CLUSTER} AS\nSELECT 1`]);
  });

  it("keeps a migration's copy as written (checked through the Distributed tables, never run) and names it per shard on the local tables", () => {
    const copies = all(clustered).filter(isCopy);
    expect(copies).toEqual(all(plain).filter(isCopy));
    expect(copies).toHaveLength(1);
    const perShard = shardLocalStatement(copies[0]!, DB);
    expect(perShard).toMatch(new RegExp(`^INSERT INTO ${DB}\\.link_activity_lookup_local \\(`));
    expect(perShard).toContain(`FROM ${DB}.link_activity_monthly_local`);
    expect(perShard).toContain(`FROM ${DB}.link_activity_lookup_local`);
    expect(perShard.match(new RegExp(`${DB}\\.\\w+`, 'g'))!.every((t) => t.endsWith('_local'))).toBe(true);
    // what migrate refuses with on a cluster when the copy would add rows: that statement, per shard
    const refusal = copyRefused('018_link_activity_single_table.sql', 12, copies[0]!, { database: DB, cluster: CLUSTER });
    expect(refusal.message).toContain(`on one replica of each shard (the shard's local tables), run once:\n${perShard};\n`);
    expect(refusal.message).not.toContain(`INSERT INTO ${DB}.link_activity_lookup `);
  });

  it('points every materialized view from a local source to a local target', () => {
    const views = all(clustered).filter((s) => s.startsWith('CREATE MATERIALIZED VIEW'));
    expect(droppedViews).toEqual(['link_activity_monthly_mv']);
    expect(views.length).toBe(rollups.length + droppedViews.length);
    for (const r of rollups) {
      const v = views.find((s) => s.includes(`${DB}.${r.view} ON CLUSTER ${CLUSTER} `))!;
      expect(v, r.view).toContain(`TO ${DB}.${localTableName(r.target)} AS`);
      const from = r.from ?? r.source;
      expect(v).toContain(`FROM ${DB}.${localTableName(from)}`);
      expect(v).not.toMatch(new RegExp(`${DB}\\.${from}\\b(?!_local)`));
    }
  });
});

/**
 * The shard layer, executed: the cluster rendering with replication and ON CLUSTER stripped, in
 * two databases standing for two shards. Rows go to the shard their Distributed sharding key
 * picks; the rollups read across both shards (as a Distributed table reads) must equal the
 * single-node rollups over all rows.
 */
describe('rollups over two shards', () => {
  const shardSql = (db: string) =>
    loadMigrations(db, sqlDir, CLUSTER)
      .flatMap((m) => m.statements)
      // Distributed tables, and the plain views and copies that read them, exist above the shards
      .filter((s) => !/ENGINE = Distributed\(/.test(s) && !/^CREATE OR REPLACE VIEW /.test(s) && !isCopy(s))
      .map((s) =>
        s
          .replace(` ON CLUSTER ${CLUSTER}`, '')
          .replace(/Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, ([^)]*))?\)/, (_, engine: string, args?: string) => `${engine}${args ? `(${args})` : ''}`)
          .replace('replicated_deduplication_window', 'non_replicated_deduplication_window'),
      );

  const shards = ['shard_1', 'shard_2'];
  const union = (table: string) => `(${shards.map((s) => `SELECT * FROM ${s}.${localTableName(table)}`).join(' UNION ALL ')})`;

  beforeAll(async () => {
    for (const db of ['single', ...shards]) {
      await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
      const statements = db === 'single' ? loadMigrations(db).flatMap((m) => m.statements) : shardSql(db);
      for (const s of statements) await ch.command({ query: s });
    }
    // 600 calls over 25 links (some without a link) and 3 states per link, over two hours
    await ch.command({
      query: `INSERT INTO single.request_logs (request_id, timestamp, method, endpoint, status_code, duration_ms, link_id, institution, customer_id, error_origin, batch_id)
        SELECT concat('r', toString(number)), now64(3) - toIntervalSecond(number * 11), 'GET',
               ['/api/accounts/', '/api/transactions/', '/api/balances/'][number % 3 + 1],
               if(number % 9 = 0, 428, 200), 50 + (number * 37) % 900,
               if(number % 5 = 0, '', concat('lnk_', toString(number % 25))),
               ['erebor', 'gotham'][number % 2 + 1], 'acme', if(number % 9 = 0, 'institution', ''), 'b1'
        FROM numbers(600)`,
    });
    await ch.command({
      query: `INSERT INTO single.links (link_id, status, access_mode, institution, created_at, updated_at, batch_id)
        SELECT concat('lnk_', toString(number % 25)), ['valid', 'token_required', 'invalid'][intDiv(number, 25) + 1],
               'recurrent', 'erebor', now64(3) - INTERVAL 3 DAY, now64(3) - toIntervalMinute(100 - number), 'b1'
        FROM numbers(75)`,
    });
    // Route each row as the Distributed table would: sharding key modulo the two shards' weight.
    for (const [table, key] of [['request_logs', shardingKeys.request_logs], ['links', shardingKeys.links]] as const) {
      for (const [i, db] of shards.entries()) {
        await ch.command({ query: `INSERT INTO ${db}.${localTableName(table)} SELECT * FROM single.${table} WHERE (${key}) % 2 = ${i}` });
      }
    }
  });

  it('spreads rows over both shards by the sharding key', async () => {
    for (const db of shards) {
      const [r] = await rows<{ n: number }>(`SELECT count() AS n FROM ${db}.${localTableName('request_logs')}`);
      expect(Number(r!.n), db).toBeGreaterThan(100);
    }
  });

  it('per-minute request stats and status counts, latency quantiles and link activity merge to the single-node answer', async () => {
    const stats = (from: string) =>
      rows(`SELECT endpoint, status_code, sum(requests) AS n, sum(duration_ms_sum) AS ms,
                   arrayMap(x -> round(x, 3), quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles)) AS q
            FROM ${from} GROUP BY endpoint, status_code ORDER BY endpoint, status_code`);
    const singleStats = await stats('single.request_stats_1m');
    const shardedStats = await stats(union('request_stats_1m'));
    expect(shardedStats.map(({ q: _q, ...r }) => r)).toEqual(singleStats.map(({ q: _q, ...r }) => r));
    // t-digest merges of different partial states are close, not bit-identical
    for (const [i, r] of shardedStats.entries()) {
      const [a, b] = [r.q as number[], singleStats[i]!.q as number[]];
      a.forEach((x, j) => expect(Math.abs(x - b[j]!)).toBeLessThanOrEqual(0.05 * b[j]! + 1));
    }

    const status = (from: string) =>
      rows(`SELECT minute, institution, customer_id, status_code, error_code, error_origin, sum(requests) AS n
            FROM ${from} GROUP BY ALL ORDER BY ALL`);
    const singleStatus = await status('single.request_status_1m');
    expect(singleStatus.length).toBeGreaterThan(100);
    expect(await status(union('request_status_1m'))).toEqual(singleStatus);

    const activity = (from: string) =>
      rows(`SELECT link_id, sum(requests) AS n, sum(errors) AS e, max(last_request_at) AS last, min(first_request_at) AS first
            FROM ${from} GROUP BY link_id ORDER BY link_id`);
    expect(await activity(union('link_activity'))).toEqual(await activity('single.link_activity'));
    const monthly = (from: string) =>
      rows(`SELECT month, link_id, sum(requests) AS n, sum(errors) AS e, max(last_request_at) AS last
            FROM ${from} GROUP BY month, link_id ORDER BY month, link_id`);
    const singleMonthly = await monthly('single.link_activity_lookup');
    expect(singleMonthly.length).toBeGreaterThan(10);
    expect(await monthly(union('link_activity_lookup'))).toEqual(singleMonthly);
    // link_activity_monthly, the view over it, answers the same
    expect(await monthly('single.link_activity_monthly')).toEqual(singleMonthly);
  });

  it("links' latest state read with argMax is the single-node answer", async () => {
    const latest = (from: string) =>
      rows(`SELECT link_id, argMax(status, updated_at) AS status FROM ${from} GROUP BY link_id ORDER BY link_id`);
    const single = await latest('single.links_latest');
    expect(single).toHaveLength(25);
    expect(new Set(single.map((r) => r.status))).toEqual(new Set(['invalid']));
    expect(await latest(union('links_latest'))).toEqual(single);
  });
});
