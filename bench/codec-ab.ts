import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactRows } from '../queue/job-rows.js';
import { measureDiskUsage } from './disk-usage.js';
import { openEngine } from './engine.js';
import { Progress } from './progress.js';
import { entityOf, generateQueryData, requestIdOf, waitForMerges } from './query-data.js';
import { runQuerySuite } from './query-bench.js';
import { formatDiskUsage } from './disk-usage.js';
import { round } from './stats.js';
import { buildTrafficPool } from './traffic-pool.js';

/**
 * `npx tsx bench/codec-ab.ts [--rows=1000000] [--generated=1000000,10000000]`: one side of an A/B of the schema's codecs (run it
 * from a checkout with and without sql/012_codecs.sql, alternating). The demo traffic's rows go
 * through the worker's raw insert (JSONCompactEachRow, 50k-row blocks, views included), then the
 * engine merges them; printed: the engine's CPU (this process) per 1k rows for the inserts alone
 * and for the inserts plus the merges they caused, and the compressed bytes per request log.
 * `--generated=sizes`: instead, the query phase's generated logs (bench/query-data.ts) at each size,
 * and the disk per request log of each table after the merges (what the full bench reports).
 * `--queries=size`: the query phase's panels and alert queries (5 runs each) on generated logs;
 * printed: the engine's CPU for the whole suite (reads decompress: what codecs cost a dashboard),
 * a figure a busy machine disturbs less than the wall-clock p95.
 */
async function main() {
  const rows = Number(process.argv.find((a) => a.startsWith('--rows='))?.slice(7) ?? 1_000_000);
  const progress = new Progress(true);
  const work = mkdtempSync(join(tmpdir(), 'obs-codec-ab-'));
  const engine = openEngine(join(work, 'engine'));
  try {
    await engine.migrate('ab');
    const querySize = Number(process.argv.find((a) => a.startsWith('--queries='))?.slice(10) ?? 0);
    if (querySize) {
      const nowMs = Date.now();
      await generateQueryData({ client: engine.client, database: 'ab', requestLogs: querySize, existing: 0, nowMs, days: 8, progress });
      await waitForMerges({ client: engine.client, database: 'ab', timeoutMs: 300_000, progress });
      const lookups = await entityOf(engine.client, 'ab', requestIdOf(Math.floor(querySize / 2)));
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      const suite = await runQuerySuite({ client: engine.client, database: 'ab', requestLogs: querySize, repetitions: 5, nowMs, lookups, progress });
      const u = process.cpuUsage(u0);
      process.stdout.write(`${JSON.stringify({ queries: suite.queries.length, suiteCpuMs: round((u.user + u.system) / 1000), suiteWallMs: round(performance.now() - t0), p50SumMs: round(suite.queries.reduce((n, q) => n + q.p50Ms, 0)) })}\n`);
      return;
    }
    const generated = process.argv.find((a) => a.startsWith('--generated='))?.slice(12);
    if (generated) {
      let existing = 0;
      const nowMs = Date.now();
      for (const size of generated.split(',').map(Number)) {
        await generateQueryData({ client: engine.client, database: 'ab', requestLogs: size, existing, nowMs, days: 8, progress });
        existing = size;
        const merges = await waitForMerges({ client: engine.client, database: 'ab', timeoutMs: 300_000, progress });
        const disk = await measureDiskUsage(engine.client, 'ab');
        process.stdout.write(`${formatDiskUsage([disk])}\n(merges settled: ${merges.settled}, ${merges.activeParts} active parts)\n`);
        process.stdout.write(`raw columns: ${JSON.stringify(disk.rawColumns.map((c) => [c.table, c.column, c.compressedBytesPerRow]))}\n`);
      }
      return;
    }
    const pool = buildTrafficPool({ logs: 100_000, batchSize: 500 });
    const byTable = [...pool.rowsByTable()];
    const total = byTable.reduce((n, [, r]) => n + r.length, 0);
    const blocks = byTable.flatMap(([table, tableRows]) => {
      const out = [];
      const want = Math.ceil((rows * tableRows.length) / total);
      for (let done = 0; done < want; ) {
        for (let i = 0; i < tableRows.length && done < want; i += 50_000) {
          const block = tableRows.slice(i, Math.min(i + 50_000, i + want - done));
          const c = compactRows(block);
          out.push({ table, rows: block.length, columns: c.columns, bytes: c.text });
          done += block.length;
        }
      }
      return out;
    });
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const start = cpu();
    let inserted = 0;
    for (const b of blocks) {
      await engine.connection.chdb.rawInsert({
        table: `ab.${b.table}`,
        columns: b.columns,
        values: b.bytes,
        format: 'JSONCompactEachRow',
        settings: { insert_deduplicate: 1, insert_deduplication_token: randomUUID(), deduplicate_blocks_in_dependent_materialized_views: 1, date_time_input_format: 'basic' },
      } as never);
      inserted += b.rows;
    }
    const afterInsert = cpu();
    const merges = await waitForMerges({ client: engine.client, database: 'ab', timeoutMs: 300_000, progress });
    // the merges run in this process too; polling for them costs next to nothing
    const afterMerges = cpu();
    const disk = await measureDiskUsage(engine.client, 'ab');
    const per1k = (ms: number) => round((ms / inserted) * 1000);
    process.stdout.write(
      `${JSON.stringify({ rows: inserted, insertCpuMsPer1k: per1k(afterInsert - start), insertAndMergeCpuMsPer1k: per1k(afterMerges - start), mergesSettled: merges.settled, compressedBytesPerLog: disk.total.compressedBytesPerLog, rawRequestLogsBytesPerLog: disk.tables.find((t) => t.table === 'request_logs' && !t.projection)?.compressedBytesPerLog, requestLogs: disk.requestLogs })}\n`,
    );
  } finally {
    await engine.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`codec A/B failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
