import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { undeduplicatedInsert } from './client.js';
import { rawTableTime, type RawTable } from './tables.js';
import { clusterMigrationsTable, localTableName, renderMigrationsForCluster, shardLocalStatement } from './cluster.js';
import { refreshTenantViews } from '../tenancy/tenants.js';

export const sqlDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql');

export interface Migration {
  name: string;
  checksum: string;
  statements: string[];
}

/** Replaces {{name}} placeholders; an unknown one is an error, not silent SQL. */
export function renderSql(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`unknown placeholder {{${name}}}`);
    return value;
  });
}

/** Splits a file into statements at semicolons that end a line (our files keep ';' out of strings). */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The ordered migrations in sql/ (files named NNN_name.sql), rendered for a database (and a cluster). */
export function loadMigrations(database: string, dir = sqlDir, cluster?: string): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), 'utf8');
      return {
        name: file,
        checksum: createHash('sha256').update(text).digest('hex').slice(0, 16),
        statements: splitStatements(renderSql(text, { db: database })),
      };
    });
  return cluster ? renderMigrationsForCluster(migrations, cluster) : migrations;
}

export interface MigrateOptions {
  database: string;
  rawTtlDays?: number;
  log?: (line: string) => void;
  /** CLICKHOUSE_CLUSTER: render everything ON CLUSTER with Replicated/Distributed tables (clickhouse/cluster.ts). */
  cluster?: string;
  /**
   * Nothing else inserts into the database while this runs: the embedded engine opened by this
   * process (the worker migrates before it consumes a job). Only then does a migration's copy run
   * by itself (copyStatement).
   */
  exclusive?: boolean;
  /** Stop before the migration file of this name (tests build a database as an older release left it). */
  until?: string;
}

/**
 * A migration's INSERT ... SELECT copies rows the database holds already (history a new table
 * lacks), as a difference: it selects only what is still missing, so it is idempotent. It is exact
 * only while nothing else inserts (a block in flight would be copied and then written by its view
 * too), and a cluster needs it per shard on the local tables. So it runs only when `exclusive`; anywhere
 * else the migration refuses while the copy would add rows, and says what to run (MigrationRefused).
 */
const COPY = /^INSERT INTO \w+\.\w+\s*\([^()]*\)\s*(SELECT\s[\s\S]+)$/;

/** The SELECT of a copy statement (the rows it would insert now), or undefined for any other statement. */
function copySelect(statement: string): string | undefined {
  return COPY.exec(statement)?.[1];
}

/** A migration that cannot go on by itself; its message says what to run. */
export class MigrationRefused extends Error {}

async function rowsToCopy(client: ClickHouseClient, select: string): Promise<number> {
  const [r] = await (await client.query({ query: `SELECT count() AS n FROM (${select})`, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(r!.n);
}

/** Why a migration's copy did not run, with the statement an operator runs instead (per shard on a cluster). */
export function copyRefused(migration: string, pending: number, statement: string, opts: Pick<MigrateOptions, 'database' | 'cluster'>): MigrationRefused {
  const where = opts.cluster
    ? `on one replica of each shard (the shard's local tables), run once:\n${shardLocalStatement(statement, opts.database)};\n`
    : `run once:\n${statement};\n`;
  return new MigrationRefused(
    `migration ${migration}: ${pending} rows (links × months) of existing history to copy, which is exact only while nothing inserts. ` +
      `Stop every worker (ingest may keep queueing), ${where}then start the workers: the migration goes on by itself. ` +
      '(With workers writing, a block in flight can show here too; it clears by itself, and workers retry migrating.)',
  );
}

/** Runs a copy statement where it is safe, refuses where it is not and it would add rows. */
async function runCopy(client: ClickHouseClient, migration: string, statement: string, select: string, opts: MigrateOptions): Promise<void> {
  const pending = await rowsToCopy(client, select);
  if (pending === 0) return;
  if (!opts.exclusive || opts.cluster) throw copyRefused(migration, pending, statement, opts);
  // The statement says it too; the embedded connection keeps an earlier insert's token on its session.
  await client.command({ query: statement, clickhouse_settings: undeduplicatedInsert });
  const left = await rowsToCopy(client, select);
  if (left !== 0) throw new Error(`migration ${migration}: its copy left ${left} rows still to copy`);
}


/**
 * Applies the migrations not yet recorded in schema_migrations. Statements are idempotent
 * (IF NOT EXISTS, OR REPLACE, copies of what is missing), so a run interrupted half-way is simply
 * run again.
 */
export async function migrate(client: ClickHouseClient, opts: MigrateOptions): Promise<string[]> {
  const db = opts.database;
  const log = opts.log ?? (() => {});
  const cluster = opts.cluster;
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}${cluster ? ` ON CLUSTER ${cluster}` : ''}` });
  await client.command({
    query: cluster ? clusterMigrationsTable(db, cluster) : `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations
      (name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
      ENGINE = ReplacingMergeTree ORDER BY name`,
  });
  const applied = new Map(
    (
      await (
        await client.query({ query: `SELECT name, checksum FROM ${db}.schema_migrations FINAL`, format: 'JSONEachRow' })
      ).json<{ name: string; checksum: string }>()
    ).map((r) => [r.name, r.checksum]),
  );
  const ran: string[] = [];
  for (const m of loadMigrations(db, sqlDir, cluster)) {
    if (opts.until !== undefined && m.name >= opts.until) break;
    const known = applied.get(m.name);
    if (known !== undefined) {
      if (known !== m.checksum) log(`migration ${m.name} changed after it was applied (${known} -> ${m.checksum}); not re-run`);
      continue;
    }
    for (const statement of m.statements) {
      const select = copySelect(statement);
      if (select) await runCopy(client, m.name, statement, select, opts);
      else await client.command({ query: statement });
    }
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [{ name: m.name, checksum: m.checksum }],
      format: 'JSONEachRow',
    });
    ran.push(m.name);
    log(`applied migration ${m.name}`);
  }
  if (opts.rawTtlDays !== undefined) await applyRawTtl(client, db, opts.rawTtlDays, log, cluster);
  // Customers' views follow the schema: new tables with customer_id get one, new columns show.
  await refreshTenantViews(client, { database: db, cluster, log });
  return ran;
}

/** RAW_TTL_DAYS: changes the raw tables' TTL in place when it differs (no rewrite of old parts). */
async function applyRawTtl(client: ClickHouseClient, db: string, days: number, log: (l: string) => void, cluster?: string) {
  // In cluster mode the data (and its TTL) lives in the local tables.
  const stored = (t: string) => (cluster ? localTableName(t) : t);
  const rows = await (
    await client.query({
      query: `SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND name IN ({names:Array(String)})`,
      query_params: { db, names: Object.keys(rawTableTime).map(stored) },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; engine_full: string }>();
  for (const { name, engine_full } of rows) {
    if (engine_full.includes(`toIntervalDay(${days})`)) continue;
    const raw = (Object.keys(rawTableTime) as RawTable[]).find((t) => stored(t) === name)!;
    const column = rawTableTime[raw];
    await client.command({
      query: `ALTER TABLE ${db}.${name}${cluster ? ` ON CLUSTER ${cluster}` : ''} MODIFY TTL toDateTime(${column}) + INTERVAL ${days} DAY`,
      clickhouse_settings: { materialize_ttl_after_modify: 0 },
    });
    log(`raw table ${name}: TTL set to ${days} days`);
  }
}
