/**
 * Scenario simulator CLI: posts a scenario's traffic through a running ingest API.
 *
 *   npx tsx simulator/cli.ts --scenario institution-outage [--seed 42] [--now 2026-01-20T12:00:00Z]
 *                             [--scale 1] [--days 7] [--prefix ''] [--live [--rate 40]]
 *                             [--url http://127.0.0.1:8080] [--api-key KEY]
 *
 * The URL and key default to INGEST_URL and INGEST_API_KEY (or the first of INGEST_API_KEYS).
 */
import { parseArgs } from 'node:util';
import { runScenario, streamLive } from './run.js';
import { planScenario, scenarioNames, type ScenarioName } from './scenarios.js';

function fail(message: string): never {
  console.error(`simulate: ${message}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'normal' },
    seed: { type: 'string', default: '42' },
    now: { type: 'string' },
    scale: { type: 'string', default: '1' },
    days: { type: 'string' },
    prefix: { type: 'string', default: '' },
    live: { type: 'boolean', default: false },
    rate: { type: 'string', default: '40' },
    url: { type: 'string', default: process.env.INGEST_URL ?? 'http://127.0.0.1:8080' },
    'api-key': { type: 'string', default: process.env.INGEST_API_KEY ?? process.env.INGEST_API_KEYS?.split(',')[0] },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || values.list) {
  for (const name of scenarioNames) console.log(`${name.padEnd(22)} ${planScenario(name, { now: Date.now() }).description}`);
  process.exit(0);
}
const scenario = values.scenario as ScenarioName;
if (!scenarioNames.includes(scenario)) fail(`unknown scenario "${values.scenario}"; one of: ${scenarioNames.join(', ')}`);
const num = (name: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) fail(`--${name} must be a number, got "${v}"`);
  return n;
};
const now = values.now === undefined ? undefined : /^\d+$/.test(values.now) ? Number(values.now) : Date.parse(values.now);
if (now !== undefined && Number.isNaN(now)) fail(`--now must be RFC 3339 or epoch ms, got "${values.now}"`);
if (!values['api-key']) fail('no API key: pass --api-key or set INGEST_API_KEY');
const target = { url: values.url.replace(/\/$/, ''), apiKey: values['api-key'] };
const options = { seed: num('seed', values.seed), now, scale: num('scale', values.scale), days: num('days', values.days), customerPrefix: values.prefix };

if (values.live) {
  const live = streamLive(target, { ...options, scenario, requestsPerSecond: num('rate', values.rate), onError: (m) => console.error(m) });
  console.log(`simulate: streaming ${scenario} traffic to ${target.url}; Ctrl-C stops`);
  const stop = () => void live.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  try {
    const run = await runScenario(scenario, target, options);
    const iso = (ms: number) => new Date(ms).toISOString();
    console.log(`simulate: ${run.name} (seed ${run.seed}) ${iso(run.from)} .. ${iso(run.to)}: ${run.posted.logs} request logs, ${run.posted.webhookAttempts} webhook attempts, ${run.posted.links} link states in ${run.ms} ms`);
    if (run.incident) {
      const where = run.incident.institution ?? run.incident.customer_id;
      console.log(`simulate: incident at ${where}: ${iso(run.incident.from)} .. ${iso(run.incident.to)}`);
    }
  } catch (err) {
    fail((err as Error).message);
  }
}
