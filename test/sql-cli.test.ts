import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { createLogger } from '../lib/logger.js';
import { startIngest, type IngestRuntime } from '../ingest/runtime.js';
import { queryEndpointFile } from '../workers/query-endpoint.js';
import { testConfig } from './helpers/pipeline.js';
import { runTmpDir } from './helpers/tmp.js';
import { exited, spawnWorker } from './helpers/worker-process.js';

// `npm run sql` while another process (the worker) holds the embedded data directory.
const run = promisify(execFile);
const config = testConfig();
let worker: ChildProcess;
let ingest: IngestRuntime;

const sql = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/sql.ts', ...args], {
    env: { PATH: process.env.PATH, CLICKHOUSE_DATA_DIR: config.CLICKHOUSE_DATA_DIR },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

beforeAll(async () => {
  worker = spawnWorker(config);
  ingest = await startIngest(config, createLogger('test', 'silent'));
  const deadline = Date.now() + 60_000;
  while (!existsSync(queryEndpointFile(config.CLICKHOUSE_DATA_DIR))) {
    if (Date.now() > deadline) throw new Error('worker did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const res = await fetch(`${ingest.url}/v1/logs`, {
    method: 'POST',
    headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
    body: JSON.stringify(
      ['bank_a', 'bank_a', 'bank_b'].map((institution, i) => ({
        request_id: `q${i}`,
        timestamp: '2026-11-20T10:00:00Z',
        method: 'GET',
        endpoint: '/api/accounts/',
        status_code: 200,
        institution,
      })),
    ),
  });
  expect(res.status).toBe(202);
});

afterAll(async () => {
  await ingest?.stop();
  worker?.kill('SIGTERM');
  if (worker) await exited(worker);
});

describe('npm run sql against a running embedded pipeline', () => {
  it('answers through the worker, in the FORMAT the query names', async () => {
    let rows = '';
    for (let i = 0; i < 100 && rows.trim() !== '{"institution":"bank_a","n":2}\n{"institution":"bank_b","n":1}'; i++) {
      const r = await sql(
        `SELECT institution, count() AS n FROM observability.request_logs GROUP BY institution ORDER BY institution FORMAT JSONEachRow`,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      rows = r.stdout;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(rows.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { institution: 'bank_a', n: 2 },
      { institution: 'bank_b', n: 1 },
    ]);
  });

  it('prints a readable table by default', async () => {
    const r = await sql('SELECT 1 AS one, \'x\' AS letter');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/one.*letter/);
    expect(r.stdout).toMatch(/│\s+1 │ x\s+│/);
  });

  it('exits non-zero with the server message on a bad query', async () => {
    const r = await sql('SELECT nope FROM observability.request_logs');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/UNKNOWN_IDENTIFIER|Missing columns|Unknown expression/);
  });

  it('is read-only unless --write is given', async () => {
    const denied = await sql('CREATE TABLE observability.scratch (a UInt8) ENGINE = Memory');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/readonly/i);
    const allowed = await sql('--write', 'CREATE TABLE observability.scratch (a UInt8) ENGINE = Memory');
    expect(allowed.code).toBe(0);
    const check = await sql("SELECT count() FROM system.tables WHERE database = 'observability' AND name = 'scratch' FORMAT TSV");
    expect(check.stdout.trim()).toBe('1');
  });
});

/** The interactive prompt fed from a pipe, as a user would type; HOME is private for the history file. */
function prompt(input: string): Promise<{ stdout: string; home: string }> {
  const home = runTmpDir('obs-sql-home-');
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sql.ts'], {
    env: { PATH: process.env.PATH, HOME: home, CLICKHOUSE_DATA_DIR: config.CLICKHOUSE_DATA_DIR },
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stdin.end(input);
  return new Promise((res) => child.on('exit', () => res({ stdout, home })));
}

describe('npm run sql: parameters, files and the prompt', () => {
  it('runs an example file once with --param_NAME values, and names a missing parameter', async () => {
    const r = await sql('--file', 'sql/examples/13_find_request.sql', '--param_request_id=q1');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ .*q1 .*│ bank_a/);
    expect(r.stdout).not.toMatch(/q0|q2/);
    const missing = await sql('--file', 'sql/examples/13_find_request.sql');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/request_id is not set/);
  });

  it('takes multi-line statements, SET param_, meta commands; prints timing and rows read; keeps history', async () => {
    const { stdout, home } = await prompt(
      [
        "SET param_inst = 'bank_a';",
        'SELECT count() AS n',
        '  FROM observability.request_logs',
        '  WHERE institution = {inst:String};',
        '\\examples',
        'SELECT nope;',
        '',
      ].join('\n'),
    );
    expect(stdout).toContain("param inst = 'bank_a'");
    expect(stdout).toMatch(/┌─n─┐\s+1\. │ 2 │/);
    expect(stdout).toMatch(/\(\d+\.\d{3} s, [\d,]+ rows read\)/);
    expect(stdout).toMatch(/01_link_status +Is this user's link valid\?.*\[lookup\]/);
    expect(stdout).toMatch(/error: .*(UNKNOWN_IDENTIFIER|Unknown expression)/);
    const history = readFileSync(join(home, '.obs_sql_history'), 'utf8');
    expect(history).toContain('SELECT count() AS n   FROM observability.request_logs   WHERE institution = {inst:String};');
  });
});
