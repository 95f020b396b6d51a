import type { Migration } from './migrate.js';
import { kindNames, recordKinds } from '../schema/records.js';

/**
 * Cluster mode: the same migrations (sql/) rendered for a ClickHouse cluster, so a team that
 * outgrows one machine changes configuration, not code or queries.
 *
 * Every MergeTree table `t` becomes two tables, both created ON CLUSTER:
 *   t_local  the data, on every host, as Replicated<Engine> (one replication group per shard);
 *   t        a Distributed table over t_local with the same columns. Code and queries keep using
 *            `t`: inserts are routed to a shard, reads fan out to all shards and merge.
 * Materialized views are re-pointed at the local tables: an insert arriving on a shard fires the
 * view there and writes the rollup rows into that shard's local target, which replicates with the
 * raw part. Every rollup is therefore a per-shard partial aggregate; the Distributed target merges
 * them at read time, which is why rollups must always be read with aggregation (sum, max,
 * quantilesTDigestMerge, argMax ... GROUP BY), never as stored rows. docs/scaling.md has the why.
 */

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const localTableName = (table: string) => `${table}_local`;

/**
 * Where each raw table's rows go (its record kind's shardingKey). Deterministic, so a retried
 * insert (same rows, same insert_deduplication_token) splits into the same per-shard blocks and
 * each shard drops its repeat. By link, so a link's calls, attempts and states share a shard (its
 * rollup rows are then complete on that shard); rows without a link spread by their own id.
 */
export const shardingKeys: Record<string, string> = Object.fromEntries(kindNames.map((k) => [recordKinds[k].table, recordKinds[k].shardingKey]));

/** Rendering a statement kind this module does not know is an error, never a silent single-node DDL. */
export class ClusterRenderError extends Error {}

interface TableDdl {
  database: string;
  table: string;
  columns: string;
  engine: string;
  engineArgs: string | undefined;
  rest: string;
}

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\s*\(([\s\S]*)\)\s*ENGINE\s*=\s*(\w+)(?:\(([^()]*)\))?([\s\S]*)$/;
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+) TO (\w+)\.(\w+) AS\s([\s\S]+)$/;
const CREATE_VIEW = /^CREATE VIEW IF NOT EXISTS (\w+)\.(\w+) AS\s([\s\S]+)$/;
const REPLACE_VIEW = /^CREATE OR REPLACE VIEW (\w+)\.(\w+) AS\s([\s\S]+)$/;
const DROP_VIEW = /^DROP VIEW IF EXISTS (\w+)\.(\w+)$/;
/** A migration's copy of existing rows (clickhouse/migrate.ts): never run on a cluster, only checked. */
const COPY = /^INSERT INTO \w+\.\w+\s*\([^()]*\)\s*SELECT\s/;
const MODIFY_SETTING = /^ALTER TABLE (\w+)\.(\w+) MODIFY SETTING ([\s\S]+)$/;
/** Indexes, projections and column codecs are part of each part's files, so they too belong to the local tables. */
const PART_STRUCTURE = /^ALTER TABLE (\w+)\.(\w+) ((?:ADD|DROP|MATERIALIZE) (?:INDEX|PROJECTION) [\s\S]+|MODIFY COLUMN \w+ CODEC\([\s\S]+)$/;

function parseTable(statement: string): TableDdl | undefined {
  const m = CREATE_TABLE.exec(statement);
  if (!m) return undefined;
  const [, database, table, columns, engine, engineArgs, rest] = m;
  return { database: database!, table: table!, columns: columns!, engine: engine!, engineArgs, rest: rest! };
}

/** The ORDER BY expression of a table's settings tail, with balanced parentheses. */
export function sortingKey(rest: string): string {
  const at = /\bORDER BY\s+/.exec(rest);
  if (!at) throw new ClusterRenderError('a MergeTree table without ORDER BY');
  let i = at.index + at[0].length;
  const start = i;
  let depth = 0;
  for (; i < rest.length; i++) {
    const c = rest[i]!;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && /\s/.test(c)) break;
  }
  return rest.slice(start, i);
}

/**
 * A table nobody listed in shardingKeys: hash the whole sorting key, so rows that a
 * ReplacingMergeTree must collapse (same key) always meet on the same shard.
 */
function defaultShardingKey(rest: string): string {
  const key = sortingKey(rest);
  const inner = key.startsWith('(') && key.endsWith(')') ? key.slice(1, -1) : key;
  return `cityHash64(${inner})`;
}

function renderTable(t: TableDdl, cluster: string, rollupTarget: boolean): string[] {
  if (!t.engine.endsWith('MergeTree') || t.engine.startsWith('Replicated')) {
    throw new ClusterRenderError(`${t.table}: engine ${t.engine} has no cluster rendering`);
  }
  const local = localTableName(t.table);
  // One replication group per shard; the path names database and table literally, so it is the
  // same on every replica of the shard and different for every table.
  const path = `'/clickhouse/tables/{shard}/${t.database}/${local}'`;
  const args = [path, "'{replica}'", ...(t.engineArgs?.trim() ? [t.engineArgs.trim()] : [])].join(', ');
  const rest = t.rest.replace(/\bnon_replicated_deduplication_window\b/g, 'replicated_deduplication_window');
  const localDdl = `CREATE TABLE IF NOT EXISTS ${t.database}.${local} ON CLUSTER ${cluster}\n(${t.columns})\nENGINE = Replicated${t.engine}(${args})${rest}`;
  // Rollup targets are written by their views on each shard, never through the Distributed table:
  // without a sharding key ClickHouse refuses such an insert on a multi-shard cluster.
  const key = rollupTarget ? undefined : (shardingKeys[t.table] ?? defaultShardingKey(t.rest));
  const distArgs = [`'${cluster}'`, `'${t.database}'`, `'${local}'`, ...(key ? [key] : [])].join(', ');
  const distributed = `CREATE TABLE IF NOT EXISTS ${t.database}.${t.table} ON CLUSTER ${cluster} AS ${t.database}.${local}\nENGINE = Distributed(${distArgs})`;
  return [localDdl, distributed];
}

/** `db.name` references to tables that have a local twin, re-pointed at the local table. */
function toLocal(sql: string, database: string, localTables: Set<string>): string {
  return sql.replace(new RegExp(`\\b${database}\\.(\\w+)\\b`, 'g'), (whole, name: string) =>
    localTables.has(name) ? `${database}.${localTableName(name)}` : whole,
  );
}

/** Renders one statement of a migration for `cluster`; `localTables` grows as tables are created. */
export function renderStatementForCluster(
  statement: string,
  cluster: string,
  ctx: { localTables: Set<string>; rollupTargets: Set<string> },
): string[] {
  const table = parseTable(statement);
  if (table) {
    ctx.localTables.add(table.table);
    return renderTable(table, cluster, ctx.rollupTargets.has(table.table));
  }
  const mv = CREATE_MV.exec(statement);
  if (mv) {
    const [, db, view, targetDb, target, select] = mv;
    if (!ctx.localTables.has(target!)) throw new ClusterRenderError(`${view}: target ${target} is not a table of the migrations`);
    // The view fires on inserts into the local source of the shard and writes the local target.
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${view} ON CLUSTER ${cluster} TO ${targetDb}.${localTableName(target!)} AS\n${toLocal(select!, db!, ctx.localTables)}`];
  }
  const view = CREATE_VIEW.exec(statement);
  if (view) {
    // A plain view reads the Distributed tables, like any query.
    const [, db, name, select] = view;
    return [`CREATE VIEW IF NOT EXISTS ${db}.${name} ON CLUSTER ${cluster} AS\n${select}`];
  }
  const replaced = REPLACE_VIEW.exec(statement);
  if (replaced) {
    const [, db, name, select] = replaced;
    const view = `CREATE OR REPLACE VIEW ${db}.${name} ON CLUSTER ${cluster} AS\n${select}`;
    if (!ctx.localTables.has(name!)) return [view];
    // A table becomes a view: the view takes the Distributed table's name, and the data under it,
    // the local table on every host, goes too. Later statements no longer re-point it.
    ctx.localTables.delete(name!);
    return [view, `DROP TABLE IF EXISTS ${db}.${localTableName(name!)} ON CLUSTER ${cluster}`];
  }
  const dropped = DROP_VIEW.exec(statement);
  if (dropped) {
    // Materialized views exist on every host (they fire where the local source is written).
    const [, db, name] = dropped;
    return [`DROP VIEW IF EXISTS ${db}.${name} ON CLUSTER ${cluster}`];
  }
  // migrate only checks on a cluster whether it would copy anything, through the Distributed
  // tables like any query; it refuses rather than run it (shardLocalStatement says what to run).
  if (COPY.test(statement)) return [statement];
  const setting = MODIFY_SETTING.exec(statement);
  if (setting) {
    // Merge settings belong to the tables that hold parts: the local ones, on every host.
    const [, db, table, settings] = setting;
    if (!ctx.localTables.has(table!)) throw new ClusterRenderError(`${table}: not a table of the migrations`);
    return [`ALTER TABLE ${db}.${localTableName(table!)} ON CLUSTER ${cluster} MODIFY SETTING ${settings}`];
  }
  const structure = PART_STRUCTURE.exec(statement);
  if (structure) {
    const [, db, table, change] = structure;
    if (!ctx.localTables.has(table!)) throw new ClusterRenderError(`${table}: not a table of the migrations`);
    return [`ALTER TABLE ${db}.${localTableName(table!)} ON CLUSTER ${cluster} ${change}`];
  }
  throw new ClusterRenderError(`no cluster rendering for: ${statement.slice(0, 80)}`);
}

/**
 * A copy statement as an operator runs it on one replica of each shard: every table of the
 * database re-pointed at its local table (a copy reads and writes only the migrations' tables).
 */
export function shardLocalStatement(statement: string, database: string): string {
  return statement.replace(new RegExp(`\\b${database}\\.(\\w+)\\b`, 'g'), (_, name: string) => `${database}.${localTableName(name)}`);
}

/** The targets of every materialized view in the migrations (written by views, read only). */
function rollupTargetsOf(migrations: Migration[]): Set<string> {
  const targets = new Set<string>();
  for (const m of migrations) for (const s of m.statements) {
    const mv = CREATE_MV.exec(s);
    if (mv) targets.add(mv[4]!);
  }
  return targets;
}

/**
 * The migrations rendered for a cluster: same names and checksums (schema_migrations records the
 * source file), statements rewritten.
 */
export function renderMigrationsForCluster(migrations: Migration[], cluster: string): Migration[] {
  if (!IDENT.test(cluster)) throw new ClusterRenderError(`cluster name must be a plain identifier: ${cluster}`);
  const ctx = { localTables: new Set<string>(), rollupTargets: rollupTargetsOf(migrations) };
  return migrations.map((m) => ({
    ...m,
    statements: m.statements.flatMap((s) => renderStatementForCluster(s, cluster, ctx)),
  }));
}

/**
 * The migration record in cluster mode: one replication group over the whole cluster (no
 * {shard} in the path), so every host knows what was applied. Replica names must then be unique
 * cluster-wide, hence shard and replica together.
 */
export function clusterMigrationsTable(database: string, cluster: string): string {
  return `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations ON CLUSTER ${cluster}
      (name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
      ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/${database}/schema_migrations', '{shard}-{replica}') ORDER BY name`;
}

/**
 * The tenant statements (sql/tenant/, tenancy/ddl.ts) rendered ON CLUSTER: databases, views,
 * users, settings profiles and grants exist on every host, since a customer's query may land on
 * any of them. Users and profiles go to each host's local access storage; the views read the
 * Distributed tables, like every query.
 */
const ACCESS_RENDERINGS: [RegExp, string][] = [
  [/^(CREATE DATABASE IF NOT EXISTS \w+)(\s[\s\S]*)?$/, '$1 ON CLUSTER {c}$2'],
  [/^(CREATE OR REPLACE VIEW \w+\.\w+)(\s[\s\S]*)$/, '$1 ON CLUSTER {c}$2'],
  [/^(CREATE SETTINGS PROFILE OR REPLACE \w+)(\s[\s\S]*)$/, '$1 ON CLUSTER {c}$2'],
  [/^(CREATE USER \w+)(\s[\s\S]*)$/, '$1 ON CLUSTER {c}$2'],
  [/^GRANT(\s[\s\S]*)$/, 'GRANT ON CLUSTER {c}$1'],
  [/^(DROP (?:USER|DATABASE) IF EXISTS \w+)$/, '$1 ON CLUSTER {c}'],
];

export function renderAccessForCluster(statement: string, cluster: string): string {
  if (!IDENT.test(cluster)) throw new ClusterRenderError(`cluster name must be a plain identifier: ${cluster}`);
  for (const [pattern, replacement] of ACCESS_RENDERINGS) {
    if (pattern.test(statement)) return statement.replace(pattern, replacement.replaceAll('{c}', cluster));
  }
  throw new ClusterRenderError(`no cluster rendering for: ${statement.slice(0, 80)}`);
}
