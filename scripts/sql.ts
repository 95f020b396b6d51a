/**
 * npm run sql -- "SELECT ..."   runs one statement and exits (non-zero with the server's message on error)
 * npm run sql -- --file F.sql   runs the statements of a file in order, same exit rule
 * npm run sql                   interactive prompt: statements end with ';', history, timing and rows read
 * Read-only unless --write is given. The FORMAT clause sets the output; default is a readable table.
 * Query parameters ({link_id:String}, as in sql/examples/) come from --param_link_id=VALUE or, at the
 * prompt, `SET param_link_id = 'VALUE';`. They are bound here, so they work the same against a server
 * and through the embedded query endpoint.
 */
import { createInterface } from 'node:readline';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { loadConfigOrExit } from '../config/env.js';
import { cliClickHouse } from '../clickhouse/cli-client.js';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { splitStatements } from '../clickhouse/migrate.js';

const examplesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'examples');

interface Options {
  write: boolean;
  file?: string;
  params: Map<string, string>;
  sql: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { write: false, params: new Map(), sql: '' };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const param = /^--param_(\w+)(?:=([\s\S]*))?$/.exec(a);
    if (a === '--write') o.write = true;
    else if (a === '--file' || a === '-f') o.file = argv[++i];
    else if (param) o.params.set(param[1]!, param[2] ?? argv[++i] ?? '');
    else rest.push(a);
  }
  o.sql = rest.join(' ').trim();
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const HAS_FORMAT = /\bFORMAT\s+[A-Za-z0-9_]+\s*;?\s*$/i;
const RETURNS_ROWS = /^\s*(\(|SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;
const SET_PARAM = /^\s*SET\s+param_(\w+)\s*=\s*([\s\S]*?)\s*;?\s*$/i;
const PLACEHOLDER = /\{([A-Za-z_]\w*):([^{}]+)\}/g;

/** Comments at the start of a statement (the examples open with theirs) hide what it is. */
const withoutLeadingComments = (sql: string) => sql.replace(/^(\s*(--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/))*/, '');

const sqlString = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** `'text'` or bare text after `SET param_x =`: the value itself. */
function unquote(v: string): string {
  const m = /^'((?:[^'\\]|\\.)*)'$/.exec(v);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : v;
}

/** Binds {name:Type} placeholders as typed literals; an unset one is an error naming how to set it. */
function bindParams(sql: string, params: Map<string, string>): string {
  return sql.replace(PLACEHOLDER, (_, name: string, type: string) => {
    const value = params.get(name);
    if (value === undefined) {
      throw new Error(`query parameter ${name} is not set: SET param_${name} = '...'; (or --param_${name}=...)`);
    }
    return `CAST(${sqlString(value)} AS ${type.trim()})`;
  });
}

interface Result {
  output: string;
  rowsRead?: number;
  elapsedMs: number;
}

async function run(client: ClickHouseClient, statement: string): Promise<Result> {
  let query = bindParams(statement.trim().replace(/;\s*$/, ''), opts.params);
  if (RETURNS_ROWS.test(withoutLeadingComments(query)) && !HAS_FORMAT.test(query)) query += '\nFORMAT PrettyCompactMonoBlock';
  const t0 = performance.now();
  const r = await client.exec({
    query,
    // readonly=2: reads and session settings only; --write lifts it
    clickhouse_settings: opts.write ? {} : { readonly: '2' },
  });
  let output = '';
  for await (const chunk of r.stream) output += chunk.toString();
  const summary = (r as { summary?: { read_rows?: string } }).summary;
  const header = r.response_headers?.['x-clickhouse-summary'];
  const read = summary?.read_rows ?? (typeof header === 'string' ? (JSON.parse(header) as { read_rows?: string }).read_rows : undefined);
  return { output, rowsRead: read === undefined ? undefined : Number(read), elapsedMs: performance.now() - t0 };
}

/** A statement, or a client-side `SET param_x = ...` (remembered, not sent). */
async function runOrSetParam(client: ClickHouseClient, statement: string): Promise<Result | string> {
  const set = SET_PARAM.exec(withoutLeadingComments(statement));
  if (set) {
    opts.params.set(set[1]!, unquote(set[2]!));
    return `param ${set[1]} = ${sqlString(opts.params.get(set[1]!)!)}\n`;
  }
  return run(client, statement);
}

/** The statements of a file: a path, or the name of an example (sql/examples/NAME.sql). */
function fileStatements(path: string): string[] {
  const candidates = [path, join(examplesDir, path), join(examplesDir, `${path}.sql`)];
  const found = candidates.find((p) => existsSync(p) && p.endsWith('.sql'));
  if (!found) throw new Error(`no such file or example: ${path}`);
  return splitStatements(readFileSync(found, 'utf8'));
}

/** The examples with the question each answers (their first comment line) and their parameters. */
function listExamples(): string {
  if (!existsSync(examplesDir)) return 'no sql/examples directory\n';
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(examplesDir, f), 'utf8');
      const question = /^--\s*(.+)$/m.exec(text)?.[1] ?? '';
      const params = [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
      return `  ${basename(f, '.sql').padEnd(38)} ${question}${params.length ? `  [${params.join(', ')}]` : ''}\n`;
    })
    .join('');
}

const HELP = `Statements end with ';' and may span lines. Meta commands (one line, no ';'):
  \\examples           list sql/examples with the question each answers and its parameters
  \\i NAME_OR_PATH     run an example (e.g. \\i link_status) or a .sql file
  \\params             show the query parameters set with SET param_NAME = 'value';
  \\q                  quit (or Ctrl-D)
`;

function printResult(r: Result | string) {
  if (typeof r === 'string') {
    process.stdout.write(r);
    return;
  }
  process.stdout.write(r.output);
  const read = r.rowsRead === undefined ? '' : `, ${r.rowsRead.toLocaleString('en-US')} rows read`;
  process.stdout.write(`\n(${(r.elapsedMs / 1000).toFixed(3)} s${read})\n`);
}

async function metaCommand(client: ClickHouseClient, line: string): Promise<'quit' | void> {
  const [cmd, ...args] = line.trim().split(/\s+/);
  if (cmd === '\\q') return 'quit';
  if (cmd === '\\examples') process.stdout.write(listExamples());
  else if (cmd === '\\params') {
    const list = [...opts.params].map(([k, v]) => `  ${k} = ${sqlString(v)}\n`).join('');
    process.stdout.write(list || '  (none)\n');
  } else if (cmd === '\\i' && args.length === 1) {
    for (const s of fileStatements(args[0]!)) printResult(await runOrSetParam(client, s));
  } else process.stdout.write(HELP);
}

async function interactive(client: ClickHouseClient, via: string) {
  const historyFile = join(homedir(), '.obs_sql_history');
  const history = existsSync(historyFile) ? readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse().slice(0, 500) : [];
  const rl = createInterface({ input: process.stdin, output: process.stdout, history, historySize: 500, prompt: 'sql> ' });
  process.stdout.write(
    `connected (${via}${opts.write ? ', writes allowed' : ', read-only'}). End statements with ';'. ` +
      `\\examples lists ready-made queries, \\? helps, Ctrl-D quits.\n`,
  );
  let buffer = '';
  rl.prompt();
  for await (const line of rl) {
    if (!buffer && line.trim().startsWith('\\')) {
      appendFileSync(historyFile, `${line.trim()}\n`);
      try {
        if ((await metaCommand(client, line)) === 'quit') break;
      } catch (err) {
        process.stdout.write(`error: ${(err as Error).message}\n`);
      }
      rl.prompt();
      continue;
    }
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
      printResult(await runOrSetParam(client, statement));
    } catch (err) {
      process.stdout.write(`error: ${(err as Error).message}\n`);
    }
    rl.prompt();
  }
  rl.close();
}

async function main() {
  const config = loadConfigOrExit();
  // Read the file before connecting: a typo should not wait for a connection.
  const statements = opts.file ? fileStatements(opts.file) : opts.sql ? [opts.sql] : undefined;
  const { client, via } = await cliClickHouse(config);
  try {
    if (statements) {
      for (const s of statements) {
        const r = await runOrSetParam(client, s);
        if (typeof r !== 'string') process.stdout.write(r.output);
      }
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
