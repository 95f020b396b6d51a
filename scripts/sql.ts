/**
 * npm run sql -- "SELECT ..."   runs one statement and exits (non-zero with the server's message on error)
 * npm run sql                   interactive prompt: statements end with ';', history, timing and rows read
 * Read-only unless --write is given. The FORMAT clause sets the output; default is a readable table.
 */
import { createInterface } from 'node:readline';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { loadConfigOrExit } from '../config/env.js';
import { cliClickHouse } from '../clickhouse/cli-client.js';
import type { ClickHouseClient } from '../clickhouse/client.js';

const args = process.argv.slice(2);
const write = args.includes('--write');
const sql = args.filter((a) => a !== '--write').join(' ').trim();
const HAS_FORMAT = /\bFORMAT\s+[A-Za-z0-9_]+\s*;?\s*$/i;
const RETURNS_ROWS = /^\s*(\(|SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;

interface Result {
  output: string;
  rowsRead?: number;
  elapsedMs: number;
}

async function run(client: ClickHouseClient, statement: string): Promise<Result> {
  let query = statement.trim().replace(/;\s*$/, '');
  if (RETURNS_ROWS.test(query) && !HAS_FORMAT.test(query)) query += '\nFORMAT PrettyCompactMonoBlock';
  const t0 = performance.now();
  const r = await client.exec({
    query,
    // readonly=2: reads and session settings only; --write lifts it
    clickhouse_settings: write ? {} : { readonly: '2' },
  });
  let output = '';
  for await (const chunk of r.stream) output += chunk.toString();
  const summary = (r as { summary?: { read_rows?: string } }).summary;
  const header = r.response_headers?.['x-clickhouse-summary'];
  const read = summary?.read_rows ?? (typeof header === 'string' ? (JSON.parse(header) as { read_rows?: string }).read_rows : undefined);
  return { output, rowsRead: read === undefined ? undefined : Number(read), elapsedMs: performance.now() - t0 };
}

async function interactive(client: ClickHouseClient, via: string) {
  const historyFile = join(homedir(), '.obs_sql_history');
  const history = existsSync(historyFile) ? readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse().slice(0, 500) : [];
  const rl = createInterface({ input: process.stdin, output: process.stdout, history, historySize: 500, prompt: 'sql> ' });
  process.stdout.write(`connected (${via}${write ? ', writes allowed' : ', read-only'}). End statements with ';'. Ctrl-D quits.\n`);
  let buffer = '';
  rl.prompt();
  for await (const line of rl) {
    buffer += (buffer ? '\n' : '') + line;
    if (!buffer.trim().endsWith(';')) {
      rl.setPrompt(buffer.trim() ? '   -> ' : 'sql> ');
      rl.prompt();
      continue;
    }
    const statement = buffer;
    buffer = '';
    rl.setPrompt('sql> ');
    appendFileSync(historyFile, `${statement.replace(/\n/g, ' ')}\n`);
    try {
      const r = await run(client, statement);
      process.stdout.write(r.output);
      const read = r.rowsRead === undefined ? '' : `, ${r.rowsRead.toLocaleString('en-US')} rows read`;
      process.stdout.write(`\n(${(r.elapsedMs / 1000).toFixed(3)} s${read})\n`);
    } catch (err) {
      process.stdout.write(`error: ${(err as Error).message}\n`);
    }
    rl.prompt();
  }
}

async function main() {
  const config = loadConfigOrExit();
  const { client, via } = await cliClickHouse(config);
  try {
    if (sql) {
      const r = await run(client, sql);
      process.stdout.write(r.output);
    } else {
      await interactive(client, via);
    }
  } finally {
    await client.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
