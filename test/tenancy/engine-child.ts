/**
 * One engine process for the isolation test (one engine per process; a data directory can be
 * held by one process only). `operator`: migrates, loads the world and creates the tenants.
 * `customer`: opens the same directory as customer A and runs the attempts and every dashboard
 * query, writing what the engine answered to the response file.
 *   node --import tsx test/tenancy/engine-child.ts <request.json> <response.json>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'chdb';
import { createClickHouse, embeddedEngineSettings, engineArgs } from '../../clickhouse/client.js';
import { migrate } from '../../clickhouse/migrate.js';
import { loadConfig } from '../../config/env.js';
import { tenantViewsDdl } from '../../tenancy/ddl.js';
import { runStatements } from '../../tenancy/tenants.js';
import { A, B, DB, DEFINER, NOBODY, worldRows } from './world.js';
import { dashboardRuns } from './dashboard-runs.js';

export interface Attempt {
  name: string;
  sql: string;
  expect: 'refused' | 'allowed';
}
export interface Answer {
  ok: boolean;
  text: string;
}
export interface Request {
  mode: 'operator' | 'customer';
  dataDir: string;
  configFile: string;
  now: number;
  attempts?: Attempt[];
  tenantDatabase?: string;
}

const [requestFile, responseFile] = process.argv.slice(2) as [string, string];
const request = JSON.parse(readFileSync(requestFile, 'utf8')) as Request;
// The engine opens here, so here it takes the server settings the pipeline's client checks for.
const session = new Session(request.dataDir, { connectionArgs: [`--config-file=${request.configFile}`, ...engineArgs(embeddedEngineSettings())] });

function ask(sql: string): Answer {
  try {
    return { ok: true, text: session.query(sql, 'JSONEachRow') };
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  }
}

if (request.mode === 'operator') {
  // The client shares this process's engine, opened above with the operator's config.
  const client = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: request.dataDir }));
  await migrate(client, { database: DB });
  for (const c of [A, B, NOBODY]) {
    const rows = worldRows(request.now, c);
    for (const [table, values] of Object.entries(rows)) await client.insert({ table: `${DB}.${table}`, values, format: 'JSONEachRow' });
  }
  for (const c of [A, B]) await runStatements(client, tenantViewsDdl({ database: DB, customerId: c.id, definer: DEFINER }));
  // What the operator sees: every table, and plain view (sql/018), holds B's marker (so a leak would show).
  const tables = ask(`SELECT name FROM system.tables WHERE database = '${DB}' AND (engine LIKE '%MergeTree' OR engine = 'View') FORMAT JSONEachRow`);
  const seen: Record<string, { rows: number; hasB: boolean; hasA: boolean }> = {};
  for (const line of tables.text.trim().split('\n')) {
    const { name } = JSON.parse(line) as { name: string };
    const all = ask(`SELECT * FROM ${DB}.${name}`);
    seen[name] = { rows: all.text.trim() ? all.text.trim().split('\n').length : 0, hasB: all.text.includes(B.marker), hasA: all.text.includes(A.marker) };
  }
  // The operator's dashboards with Customer = A: what A's own dashboards must show.
  const dashboards = dashboardRuns('operator', DB, request.now, ask, { customer: [A.id] });
  writeFileSync(responseFile, JSON.stringify({ seen, dashboards }));
  await client.close();
} else {
  const attempts = (request.attempts ?? []).map((a) => ({ ...a, answer: ask(a.sql) }));
  const dashboards = dashboardRuns('customer', request.tenantDatabase!, request.now, ask);
  writeFileSync(responseFile, JSON.stringify({ attempts, dashboards }));
}
session.close?.();
