import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { repoRoot } from './child-process.js';
import { openEngine } from './engine.js';
import { Progress } from './progress.js';
import { generateQueryData, waitForMerges } from './query-data.js';
import { median, round } from './stats.js';
import { buildTrafficPool } from './traffic-pool.js';

/**
 * `npx tsx bench/codec-trial.ts [--logs=1000000] [--pool=100000] [--tables=request_logs,...]`
 * Chooses column codecs by measurement. Two data sets, each through the real migrations (views
 * fill the rollups): the benchmark's generated logs (bench/query-data.ts: dense hash-made values
 * over 8 days) and the demo's traffic (demo/traffic.ts: random hex ids, JSON bodies, one hour).
 * For every column of the chosen tables and every candidate codec of its type, the column's values
 * in the table's own sort order (a copy sorted by the same key, merged into one part) are written
 * into a one-column table with that codec; measured: compressed bytes per row, and the engine CPU
 * (this process: chdb runs in it) to write them and to read them back, median of 3 each.
 */
const CANDIDATES: [RegExp, string[]][] = [
  [/^DateTime64/, ['ZSTD(1)', 'Delta, ZSTD(1)', 'DoubleDelta, ZSTD(1)', 'DoubleDelta', 'T64, ZSTD(1)']],
  [/^(DateTime|Date)\b/, ['ZSTD(1)', 'Delta, ZSTD(1)', 'DoubleDelta, ZSTD(1)']],
  [/^LowCardinality/, ['ZSTD(1)']],
  [/^(Nullable\()?U?Int/, ['ZSTD(1)', 'T64, ZSTD(1)', 'Delta, ZSTD(1)']],
  [/^(Nullable\()?Float/, ['ZSTD(1)', 'Gorilla, ZSTD(1)', 'FPC, ZSTD(1)']],
  [/^SimpleAggregateFunction\((sum|min|max), U?Int/, ['ZSTD(1)', 'T64, ZSTD(1)', 'Delta, ZSTD(1)']],
  [/^SimpleAggregateFunction\((sum|min|max), DateTime64/, ['ZSTD(1)', 'Delta, ZSTD(1)', 'DoubleDelta, ZSTD(1)']],
  [/^SimpleAggregateFunction\(sum, Float/, ['ZSTD(1)', 'Gorilla, ZSTD(1)', 'FPC, ZSTD(1)']],
  [/^(String|SimpleAggregateFunction\(anyLast, String\)|AggregateFunction|SimpleAggregateFunction\(anyLast, LowCardinality)/, ['ZSTD(1)', 'ZSTD(3)', 'ZSTD(6)', 'LZ4HC(9)']],
];

export const candidatesFor = (type: string) => ['', ...(CANDIDATES.find(([re]) => re.test(type))?.[1] ?? ['ZSTD(1)'])];

export interface CodecMeasure {
  /** '' is the engine's default (LZ4) */
  codec: string;
  bytesPerRow: number;
  writeCpuMsPer1M: number;
  readCpuMsPer1M: number;
}

export interface ColumnTrial {
  dataset: string;
  table: string;
  column: string;
  type: string;
  rows: number;
  /** the codec the migrations give it now ('' = default) */
  current: string;
  candidates: CodecMeasure[];
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function trialTable(client: ClickHouseClient, db: string, table: string, dataset: string, progress: Progress): Promise<ColumnTrial[]> {
  const rows = async <T>(query: string) => (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  const [meta] = await rows<{ sorting_key: string }>(`SELECT sorting_key FROM system.tables WHERE database = '${db}' AND name = '${table}'`);
  const columns = await rows<{ name: string; type: string; codec: string; key: number }>(
    `SELECT name, type, compression_codec AS codec, is_in_sorting_key AS key FROM system.columns WHERE database = '${db}' AND table = '${table}' ORDER BY position`,
  );
  const [{ n }] = (await rows<{ n: string }>(`SELECT count() AS n FROM ${db}.${table}`)) as [{ n: string }];
  const total = Number(n);
  if (!meta || total === 0) return [];
  const keyColumns = columns.filter((c) => Number(c.key) === 1);
  const out: ColumnTrial[] = [];
  for (const col of columns) {
    // the column in the table's sort order: a copy sorted by the same key, merged into one part
    const sorted = `trial_sorted`;
    const withKey = [...keyColumns.filter((k) => k.name !== col.name), col];
    await client.command({ query: `DROP TABLE IF EXISTS ${db}.${sorted} SYNC` });
    await client.command({
      query: `CREATE TABLE ${db}.${sorted} (${withKey.map((c) => `\`${c.name}\` ${c.type}`).join(', ')}) ENGINE = MergeTree ORDER BY (${meta.sorting_key})`,
    });
    await client.command({ query: `INSERT INTO ${db}.${sorted} SELECT ${withKey.map((c) => `\`${c.name}\``).join(', ')} FROM ${db}.${table}` });
    await client.command({ query: `OPTIMIZE TABLE ${db}.${sorted} FINAL` });
    const trial: ColumnTrial = { dataset, table, column: col.name, type: col.type, rows: total, current: col.codec.replace(/^CODEC\((.*)\)$/, '$1'), candidates: [] };
    for (const codec of candidatesFor(col.type)) {
      progress.update(`${dataset} ${table}.${col.name} ${codec || 'default'}`);
      const one = `trial_${randomUUID().replace(/-/g, '')}`;
      const create = `CREATE TABLE ${db}.${one} (c ${col.type}${codec ? ` CODEC(${codec})` : ''}) ENGINE = MergeTree ORDER BY tuple() SETTINGS min_bytes_for_wide_part = 0`;
      const write: number[] = [];
      const read: number[] = [];
      let bytes: number;
      try {
        for (let rep = 0; rep < 3; rep++) {
          await client.command({ query: `DROP TABLE IF EXISTS ${db}.${one} SYNC` });
          await client.command({ query: create });
          // one thread reads the merged part in order: the rows keep the table's sort order
          const t = cpuMs();
          await client.command({ query: `INSERT INTO ${db}.${one} SELECT \`${col.name}\` FROM ${db}.${sorted} SETTINGS max_threads = 1, max_insert_threads = 1` });
          write.push(cpuMs() - t);
        }
        for (let rep = 0; rep < 3; rep++) {
          const t = cpuMs();
          await client.command({ query: `SELECT c FROM ${db}.${one} FORMAT Null SETTINGS max_threads = 1` });
          read.push(cpuMs() - t);
        }
        const [b] = await rows<{ b: string }>(`SELECT sum(column_data_compressed_bytes) AS b FROM system.parts_columns WHERE database = '${db}' AND table = '${one}' AND active`);
        bytes = Number(b?.b ?? 0);
      } catch (err) {
        progress.done(`${table}.${col.name}: codec ${codec} refused: ${(err as Error).message.slice(0, 120)}`);
        continue;
      } finally {
        await client.command({ query: `DROP TABLE IF EXISTS ${db}.${one} SYNC` });
      }
      const per1M = (ms: number) => round((ms / total) * 1e6);
      trial.candidates.push({ codec, bytesPerRow: round(bytes / total), writeCpuMsPer1M: per1M(median(write)), readCpuMsPer1M: per1M(median(read)) });
    }
    await client.command({ query: `DROP TABLE IF EXISTS ${db}.${sorted} SYNC` });
    out.push(trial);
  }
  return out;
}

export function formatTrials(trials: ColumnTrial[]): string {
  const out: string[] = [];
  let last = '';
  for (const t of trials) {
    const head = `${t.dataset} / ${t.table} (${t.rows} rows)`;
    if (head !== last) out.push(`\n${head}: codec: bytes per row, write / read CPU ms per 1M rows`);
    last = head;
    const cells = t.candidates.map((c) => `${c.codec || 'LZ4'}: ${c.bytesPerRow} B, ${c.writeCpuMsPer1M}/${c.readCpuMsPer1M}`);
    out.push(`  ${t.column} ${t.type}${t.current ? ` [now ${t.current}]` : ''}\n      ${cells.join(' | ')}`);
  }
  return out.join('\n');
}

async function main() {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const logs = Number(arg('logs') ?? 1_000_000);
  const poolLogs = Number(arg('pool') ?? 100_000);
  const tables = (arg('tables') ?? 'request_logs,webhook_attempts,links,request_stats_1m,link_activity,request_status_1m,request_errors_1m').split(',');
  const progress = new Progress();
  const work = mkdtempSync(join(tmpdir(), 'obs-codec-trial-'));
  const engine = openEngine(join(work, 'engine'));
  const trials: ColumnTrial[] = [];
  try {
    progress.start('codec trial', `generating ${logs} request logs`);
    await engine.migrate('generated');
    await generateQueryData({ client: engine.client, database: 'generated', requestLogs: logs, existing: 0, nowMs: Date.now(), days: 8, progress });
    await waitForMerges({ client: engine.client, database: 'generated', timeoutMs: 180_000, progress });
    progress.start('codec trial', `demo traffic: ${poolLogs} request logs`);
    await engine.migrate('demo');
    const pool = buildTrafficPool({ logs: poolLogs, batchSize: 500 });
    for (const [table, tableRows] of pool.rowsByTable()) {
      for (let i = 0; i < tableRows.length; i += 50_000) {
        await engine.client.insert({ table: `demo.${table}`, values: tableRows.slice(i, i + 50_000), format: 'JSONEachRow', clickhouse_settings: { date_time_input_format: 'basic' } });
      }
    }
    await waitForMerges({ client: engine.client, database: 'demo', timeoutMs: 180_000, progress });
    for (const dataset of ['generated', 'demo']) {
      for (const table of tables) {
        progress.start('codec trial', `${dataset}.${table}`);
        trials.push(...(await trialTable(engine.client, dataset, table, dataset, progress)));
      }
    }
  } finally {
    await engine.close();
    rmSync(work, { recursive: true, force: true });
  }
  const outDir = join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `codec-trial-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ logs, poolLogs, trials }, null, 2));
  process.stdout.write(`${formatTrials(trials)}\n\nreport: ${file}\n`);
}

if (process.argv[1]?.endsWith('codec-trial.ts')) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`codec trial failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
