/**
 * npm start: the whole pipeline on one machine. A private redis-server (unless REDIS_URL is set),
 * the worker (which owns the embedded ClickHouse and applies migrations), the ingest API, and
 * demo traffic with alerting on: every alert rule evaluated, notices printed here (DEMO=off skips
 * the traffic and keeps alerting as configured). Ctrl-C stops everything in order, losing nothing
 * in flight.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from '../config/env.js';
import { clickhouseMode } from '../clickhouse/client.js';
import { queryEndpointFile } from '../workers/query-endpoint.js';
import { startLocalRedis, type LocalRedis } from './local-redis.js';
import { removePipelineInfo, writePipelineInfo } from './pipeline-info.js';
import { runDemo } from '../demo/run.js';
import { startAlertConsole } from '../demo/alert-console.js';
import { ingestNodeFlags } from '../ingest/node-flags.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const env: NodeJS.ProcessEnv = { ...process.env };
const config = loadConfigOrExit(env);
const dataRoot = dirname(resolve(config.CLICKHOUSE_DATA_DIR));
mkdirSync(dataRoot, { recursive: true });

let redis: LocalRedis | undefined;
if (!env.REDIS_URL) {
  redis = await startLocalRedis({ dir: join(dataRoot, 'redis'), port: Number(env.LOCAL_REDIS_PORT ?? 0) || undefined, detached: true });
  env.REDIS_URL = redis.url;
  say(`private redis-server on ${redis.url} (AOF fsynced before each reply, noeviction; data in ${join(dataRoot, 'redis')})`);
}
if (!env.INGEST_API_KEYS) env.INGEST_API_KEYS = `dev-${randomBytes(12).toString('hex')}`;
const apiKey = env.INGEST_API_KEYS.split(',')[0]!.trim();

// The demo shows alerting at work: the worker evaluates every rule, and its notices come back to
// this console. Settings the user gave (ALERTS_ENABLED, ALERT_WEBHOOK_URL) win.
const demoOn = env.DEMO !== 'off';
let alertConsole: Awaited<ReturnType<typeof startAlertConsole>> | undefined;
if (demoOn) {
  env.ALERTS_ENABLED ??= 'true';
  if (!env.ALERT_WEBHOOK_URL) {
    alertConsole = await startAlertConsole(say);
    env.ALERT_WEBHOOK_URL = alertConsole.url;
  }
}

const children = new Map<string, ChildProcess>();
let stopping = false;

function launch(name: 'worker' | 'ingest'): ChildProcess {
  const entry = name === 'worker' ? 'workers/main.ts' : 'ingest/server.ts';
  const flags = name === 'ingest' ? ingestNodeFlags : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', join(root, entry)], {
    cwd: root,
    env: { ...env, OBS_PARENT_PID: String(process.pid) },
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true, // own process group: Ctrl-C reaches us, and we stop them in order
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited (${signal ?? code}); restarting in 1 s`);
    setTimeout(() => !stopping && launch(name), 1000);
  });
  return child;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

const port = config.PORT;
const ingestUrl = `http://127.0.0.1:${port}`;
launch('worker');
if (clickhouseMode(config) === 'embedded') {
  await waitFor('the worker (embedded ClickHouse)', () => existsSync(queryEndpointFile(config.CLICKHOUSE_DATA_DIR)));
}
launch('ingest');
await waitFor('ingest', async () => {
  try {
    return (await fetch(`${ingestUrl}/readyz`)).ok;
  } catch {
    return false;
  }
});
writePipelineInfo(config.CLICKHOUSE_DATA_DIR, { pid: process.pid, redis_url: env.REDIS_URL!, ingest_url: ingestUrl, api_key: apiKey });

say(`ingest API on ${ingestUrl}  (Authorization: Bearer ${apiKey})`);
say(`  curl -X POST ${ingestUrl}/v1/logs -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\`);
say(`       -d '[{"request_id":"r1","timestamp":"${new Date().toISOString()}","method":"GET","endpoint":"/api/accounts/","status_code":200}]'`);
say(`query it: npm run sql -- "SELECT institution, count() FROM ${config.CLICKHOUSE_DATABASE}.request_logs GROUP BY institution"`);
say(`          npm run sql   (interactive)`);

const demo = demoOn ? runDemo({ url: ingestUrl, apiKey, log: say }) : undefined;
if (!demo) say('DEMO=off: no demo traffic');
else if (alertConsole) say('alerting: every rule evaluated each minute; notices are printed here as ALERT lines and kept in the alerts table (Insights > Alerts)');

async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping demo, ingest, then worker (it writes what it holds)`);
  await demo?.stop();
  const stop = async (name: string, graceMs: number) => {
    const child = children.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    // bounded: a job it has not completed stays queued and is written (once) on the next start
    const timer = setTimeout(() => {
      say(`${name} still running after ${graceMs / 1000} s; killing it (what it held stays queued)`);
      child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  };
  await stop('ingest', 15_000);
  await stop('worker', 60_000);
  await alertConsole?.close();
  await redis?.stop();
  removePipelineInfo(config.CLICKHOUSE_DATA_DIR);
  say('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
