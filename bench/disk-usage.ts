import type { ClickHouseClient } from '../clickhouse/client.js';
import { rawTableTime } from '../clickhouse/tables.js';
import { round } from './stats.js';

/**
 * Bytes on disk per request log: for every table of the database that holds parts (raw tables,
 * rollup targets, the rest) and every projection, the active parts' compressed and uncompressed
 * column bytes and their whole size on disk (marks, primary index, skip indexes included), each
 * divided by the request_logs row count. Read from system.parts, system.projection_parts and
 * system.parts_columns, so it measures what the engine really wrote, after its merges.
 * A parent part's bytes_on_disk counts its projections' directories too; its data_*_bytes count
 * only its own columns. The rows below keep them apart: a table's `bytesOnDisk` is without its
 * projections, and each projection has its own row.
 */
export interface DiskUsageRow {
  table: string;
  /** raw: a table the worker inserts into; rollup: a materialized view's target; other: the rest */
  kind: 'raw' | 'rollup' | 'other';
  /** set on a projection's row: the projection's name (its table is `table`) */
  projection?: string;
  rows: number;
  parts: number;
  compressedBytes: number;
  uncompressedBytes: number;
  bytesOnDisk: number;
  compressedBytesPerLog: number;
  bytesOnDiskPerLog: number;
}

export interface ColumnUsage {
  table: string;
  column: string;
  type: string;
  codec: string;
  compressedBytes: number;
  uncompressedBytes: number;
  compressedBytesPerRow: number;
}

export interface DiskUsage {
  requestLogs: number;
  tables: DiskUsageRow[];
  /** every column of the raw tables: where their bytes go */
  rawColumns: ColumnUsage[];
  total: { compressedBytesPerLog: number; bytesOnDiskPerLog: number };
}

const perLog = (bytes: number, logs: number) => (logs > 0 ? round(bytes / logs) : Number.NaN);

export async function measureDiskUsage(client: ClickHouseClient, database: string): Promise<DiskUsage> {
  const rows = async <T>(query: string) =>
    (await client.query({ query, query_params: { db: database }, format: 'JSONEachRow' })).json<T>();
  const views = await rows<{ query: string }>(`SELECT create_table_query AS query FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView'`);
  const targets = new Set(views.map((v) => / TO [\w`]+\.`?(\w+)`?/.exec(v.query)?.[1]).filter((t): t is string => Boolean(t)));
  const kindOf = (table: string): DiskUsageRow['kind'] => (table in rawTableTime ? 'raw' : targets.has(table) ? 'rollup' : 'other');

  // Numbers come back as strings (UInt64 in JSON): Number() them once here.
  type Sizes = { table: string; projection?: string; rows: string; parts: string; compressed: string; uncompressed: string; on_disk: string };
  const tableSizes = await rows<Sizes>(`
SELECT table, sum(rows) AS rows, count() AS parts, sum(data_compressed_bytes) AS compressed,
       sum(data_uncompressed_bytes) AS uncompressed, sum(bytes_on_disk) AS on_disk
FROM system.parts WHERE database = {db:String} AND active AND table != 'schema_migrations'
GROUP BY table`);
  const projectionSizes = await rows<Sizes>(`
SELECT table, name AS projection, sum(rows) AS rows, count() AS parts, sum(data_compressed_bytes) AS compressed,
       sum(data_uncompressed_bytes) AS uncompressed, sum(bytes_on_disk) AS on_disk
FROM system.projection_parts WHERE database = {db:String} AND active
GROUP BY table, name`);
  const logs = Number(tableSizes.find((t) => t.table === 'request_logs')?.rows ?? 0);
  const projectionDisk = new Map<string, number>();
  for (const p of projectionSizes) projectionDisk.set(p.table, (projectionDisk.get(p.table) ?? 0) + Number(p.on_disk));
  const row = (s: Sizes, onDisk: number): DiskUsageRow => ({
    table: s.table,
    kind: kindOf(s.table),
    ...(s.projection ? { projection: s.projection } : {}),
    rows: Number(s.rows),
    parts: Number(s.parts),
    compressedBytes: Number(s.compressed),
    uncompressedBytes: Number(s.uncompressed),
    bytesOnDisk: onDisk,
    compressedBytesPerLog: perLog(Number(s.compressed), logs),
    bytesOnDiskPerLog: perLog(onDisk, logs),
  });
  const order = { raw: 0, rollup: 1, other: 2 };
  const tables = [
    ...tableSizes.map((s) => row(s, Number(s.on_disk) - (projectionDisk.get(s.table) ?? 0))),
    ...projectionSizes.map((s) => row(s, Number(s.on_disk))),
  ].sort((a, b) => order[a.kind] - order[b.kind] || a.table.localeCompare(b.table) || (a.projection ?? '').localeCompare(b.projection ?? ''));

  const columns = await rows<{ table: string; column: string; type: string; codec: string; compressed: string; uncompressed: string; rows: string }>(`
SELECT pc.table AS table, pc.column AS column, any(pc.type) AS type, any(c.compression_codec) AS codec,
       sum(pc.column_data_compressed_bytes) AS compressed, sum(pc.column_data_uncompressed_bytes) AS uncompressed, sum(pc.rows) AS rows
FROM system.parts_columns AS pc
LEFT JOIN (SELECT table, name, compression_codec FROM system.columns WHERE database = {db:String}) AS c ON c.table = pc.table AND c.name = pc.column
WHERE pc.database = {db:String} AND pc.active AND pc.table IN (${Object.keys(rawTableTime).map((t) => `'${t}'`).join(', ')})
GROUP BY pc.table, pc.column
ORDER BY pc.table, compressed DESC`);
  const rawColumns = columns.map((c) => ({
    table: c.table,
    column: c.column,
    type: c.type,
    codec: c.codec || 'default (LZ4)',
    compressedBytes: Number(c.compressed),
    uncompressedBytes: Number(c.uncompressed),
    compressedBytesPerRow: perLog(Number(c.compressed), Number(c.rows)),
  }));
  const sum = (f: (r: DiskUsageRow) => number) => tables.reduce((n, r) => n + f(r), 0);
  return {
    requestLogs: logs,
    tables,
    rawColumns,
    total: { compressedBytesPerLog: perLog(sum((r) => r.compressedBytes), logs), bytesOnDiskPerLog: perLog(sum((r) => r.bytesOnDisk), logs) },
  };
}

/** The printed table: one line per table and projection, per request log. */
export function formatDiskUsage(usages: DiskUsage[]): string {
  const out: string[] = [];
  for (const u of usages) {
    out.push(`\nDisk at ${u.requestLogs} request logs, bytes per request log: compressed columns / on disk (marks, indexes included); rows; parts`);
    for (const t of u.tables) {
      const name = `${t.kind.padEnd(6)} ${t.table}${t.projection ? ` (projection ${t.projection})` : ''}`;
      out.push(`  ${String(t.compressedBytesPerLog).padStart(8)} ${String(t.bytesOnDiskPerLog).padStart(8)} ${String(t.rows).padStart(10)} ${String(t.parts).padStart(4)}  ${name}`);
    }
    out.push(`  ${String(u.total.compressedBytesPerLog).padStart(8)} ${String(u.total.bytesOnDiskPerLog).padStart(8)}  total`);
  }
  return out.join('\n');
}
