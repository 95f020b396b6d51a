import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { undeduplicatedInsert } from '../clickhouse/client.js';
import { boardVariables, panelByTitle, type DashboardJson } from '../test/dashboards/dashboard-json.js';
import { expandQuery } from '../test/dashboards/grafana-expander.js';
import { openEngine } from './engine.js';
import { Progress } from './progress.js';
import { linkStatesInsert, waitForForcedMerges, waitForMerges } from './query-data.js';

/**
 * `npx tsx bench/links-shape.ts --dir=/tmp/links-shape --build [--logs=100000000]`: the link tables
 * of the query phase's data at `logs` request logs (bench/query-data.ts), built in minutes rather
 * than half an hour: the same link states, and link_activity filled by the same aggregation
 * link_activity_mv does over the same generated requests, chunk by chunk (1M, then 10M, then the
 * rest, as the bench's sizes add them), so link_activity_monthly gets the same rows and parts.
 * `--compare=a.json,b.json [--pairs=5] [--panel=links/Links]`: one panel's query from two generated
 * dashboard files, run alternately (A, B, A, B...) on that data; printed per run: the engine's CPU
 * (this process's CPU: the engine runs in it), rows read, wall time, and whether both gave the same rows.
 */
const INSTITUTIONS = Array.from({ length: 20 }, (_, i) => `institution_${String(i).padStart(2, '0')}`);
const CUSTOMERS = Array.from({ length: 8 }, (_, i) => `customer_${i}`);
const list = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

async function main() {
  const dir = arg('dir') ?? '/tmp/links-shape';
  const engine = openEngine(join(dir, 'engine'));
  const client = engine.client;
  const db = 'shape';
  const progress = new Progress(false);
  const rows = async <T>(query: string) => (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  try {
    if (process.argv.includes('--build')) {
      const total = Number(arg('logs') ?? 100_000_000);
      await engine.migrate(db);
      // resumable: the requests and link states already in the tables say where a build stopped
      const nowFile = join(dir, 'now-ms');
      if (!existsSync(nowFile)) writeFileSync(nowFile, String(Date.now()));
      const nowMs = Number(readFileSync(nowFile, 'utf8'));
      const spanMs = 8 * 86_400_000;
      const [done] = await rows<{ requests: string; links: string }>(
        `SELECT (SELECT sum(requests) FROM ${db}.link_activity) AS requests, (SELECT count() FROM ${db}.links) AS links`,
      );
      const sizes = [1_000_000, 10_000_000, 100_000_000].filter((s) => s <= total);
      let existing = 0;
      for (const size of sizes) {
        const links = size / 100;
        for (let from = Math.max(existing, Number(done!.requests)); from < size; from += 1_000_000) {
          progress.update(`link_activity ${from + 1_000_000}/${size}`);
          // link_activity_mv's aggregation, over the request columns it reads (query-data.ts's expressions)
          await client.command({
            clickhouse_settings: undeduplicatedInsert,
            query: `
INSERT INTO ${db}.link_activity (day, link_id, institution, customer_id, external_id, first_request_at, last_request_at, requests, errors)
SELECT toDate(timestamp) AS day, link_id, anyLast(institution), anyLast(customer_id), anyLast(external_id),
  min(timestamp), max(timestamp), count(), countIf(status_code >= 400)
FROM (
  SELECT
    fromUnixTimestamp64Milli(toInt64(${nowMs} - (cityHash64(number, 1) % ${spanMs}))) AS timestamp,
    toUInt16(if(cityHash64(number, 2) % 1000 < 880, 200, 400)) AS status_code,
    concat('lnk_', toString(link)) AS link_id,
    concat('user-', toString(link)) AS external_id,
    ${list(INSTITUTIONS)}[1 + link % ${INSTITUTIONS.length}] AS institution,
    ${list(CUSTOMERS)}[1 + link % ${CUSTOMERS.length}] AS customer_id
  FROM (SELECT number, cityHash64(number, 6) % ${links} AS link FROM numbers(${from}, 1000000)))
GROUP BY day, link_id`,
          });
        }
        const linkFrom = existing / 100;
        if (Number(done!.links) < size / 50) await client.command({ clickhouse_settings: undeduplicatedInsert, query: linkStatesInsert({ db, nowMs, spanMs, linkFrom, links }) });
        existing = size;
        const merges = await waitForMerges({ client, database: db, timeoutMs: 300_000, progress });
        const forced = await waitForForcedMerges({ client, database: db, progress });
        progress.update(`${size}: merges settled ${merges.settled} after ${merges.waitedSeconds} s, forced merges ${forced.merged} after ${forced.waitedSeconds} s`);
      }
    }
    if (!existsSync(join(dir, 'now-ms'))) throw new Error(`no data in ${dir}: run --build first`);
    const nowMs = Number(readFileSync(join(dir, 'now-ms'), 'utf8'));
    const parts = await rows<Record<string, string>>(
      `SELECT table, partition, count() AS parts, sum(rows) AS rows FROM system.parts WHERE database = '${db}' AND active AND table IN ('links_latest', 'link_activity', 'link_activity_lookup') GROUP BY table, partition ORDER BY table, partition`,
    );
    process.stdout.write(`${parts.map((p) => JSON.stringify(p)).join('\n')}\n`);

    await client.command({ query: `USE ${db}` });
    const cpuOf = async (query: string) => {
      const cpu0 = process.cpuUsage();
      const body = await (await client.query({ query, format: 'JSON' })).json<{ data: unknown[]; statistics?: { rows_read: number } }>();
      const cpu = process.cpuUsage(cpu0);
      return { cpuMs: Math.round((cpu.user + cpu.system) / 100) / 10, readRows: Number(body.statistics?.rows_read), data: body.data };
    };
    if (process.argv.includes('--migrate')) await engine.migrate(db); // a later migration on the built data
    const execFile = arg('exec');
    // `--exec=file.sql`: statements run once (a repair of the data set)
    if (execFile) for (const q of readFileSync(execFile, 'utf8').split(/\n;\n/).map((x) => x.trim()).filter(Boolean)) await client.command({ query: q.replaceAll('{now}', String(nowMs)), clickhouse_settings: undeduplicatedInsert });
    const queriesFile = arg('queries');
    if (queriesFile) {
      // `--queries=file.sql`: each statement (separated by a line holding ';') run 1 + 5 times: median CPU, rows read
      // round-robin (each round runs every statement once): alternating, so a busier moment hits all alike
      const statements = readFileSync(queriesFile, 'utf8').split(/\n;\n/).map((x) => x.trim()).filter(Boolean);
      const runs: Awaited<ReturnType<typeof cpuOf>>[][] = statements.map(() => []);
      for (let i = 0; i < Number(arg('runs') ?? 6); i++) {
        for (const [k, q] of statements.entries()) runs[k]!.push(await cpuOf(q.replaceAll('{now}', String(nowMs))));
      }
      for (const [k, q] of statements.entries()) {
        const mine = runs[k]!;
        const cpus = mine.slice(mine.length > 1 ? 1 : 0).map((r) => r.cpuMs).sort((a, b) => a - b);
        process.stdout.write(`${cpus[Math.floor(cpus.length / 2)]} ms CPU (${cpus.join(' ')}), rows read ${mine.at(-1)!.readRows}, ${JSON.stringify(mine.at(-1)!.data).slice(0, Number(arg('chars') ?? 400))} <- ${q.replace(/\s+/g, ' ').slice(0, 110)}\n`);
      }
    }
    const compare = arg('compare');
    if (!compare) return;
    const [board, title] = (arg('panel') ?? 'links/Links').split('/') as [string, string];
    const files = compare.split(',');
    const sqlOf = (file: string) => {
      const json = JSON.parse(readFileSync(join(file, `${board}.json`), 'utf8')) as DashboardJson;
      const panel = panelByTitle(json, title);
      return expandQuery(panel.targets![0]!.rawSql, { fromMs: nowMs - 86_400_000, toMs: nowMs, intervalMs: 60_000, variables: boardVariables(json) });
    };
    const sqls = files.map(sqlOf);
    if (process.argv.includes('--print')) process.stdout.write(`${sqls.join('\n-----\n')}\n`);
    const pairs = Number(arg('pairs') ?? 5);
    const answers: string[] = [];
    const results: { side: string; cpuMs: number; readRows: number; ms: number }[] = [];
    for (let i = -1; i < pairs; i++) {
      for (const [side, sql] of sqls.entries()) {
                const t = performance.now();
        const cpu0 = process.cpuUsage();
        const rs = await client.query({ query: sql, format: 'JSON' });
        const body = await rs.json<{ data: unknown[]; statistics?: { rows_read: number } }>();
        // chdb keeps no system.query_log: the engine runs in this process, whose CPU is the query's
        const cpu = process.cpuUsage(cpu0);
        const ms = performance.now() - t;
        answers[side] = JSON.stringify(body.data);
        if (i < 0) continue; // warm-up
        results.push({ side: String.fromCharCode(65 + side), cpuMs: Math.round((cpu.user + cpu.system) / 100) / 10, readRows: Number(body.statistics?.rows_read), ms: Math.round(ms * 10) / 10 });
      }
    }
    for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
    for (const side of sqls.keys()) {
      const mine = results.filter((r) => r.side === String.fromCharCode(65 + side)).map((r) => r.cpuMs).sort((a, b) => a - b);
      process.stdout.write(`${String.fromCharCode(65 + side)} (${files[side]}): engine CPU median ${mine[Math.floor(mine.length / 2)]} ms, rows read ${results.find((r) => r.side === String.fromCharCode(65 + side))?.readRows}\n`);
    }
    process.stdout.write(`same answers: ${answers.every((a) => a === answers[0])} (${answers[0]?.length} chars)\n`);
  } finally {
    await engine.close();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`links shape failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
