import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { createLogger } from '../../lib/logger.js';
import { AlertEvaluator, type NotificationJob, type TransitionRow } from '../../alerting/evaluator.js';
import { defaultRule, tokenRequiredRule, webhookFailureRule, type Rule } from '../../alerting/rule.js';
import type { AlertNotification } from '../../alerting/notification.js';
import { runScenario, type ScenarioName, type ScenarioRun } from '../../simulator/index.js';
import { MIN, minuteTraffic } from './traffic.js';

/**
 * The two rules added next to the error-rate one, driven by the scenario simulator through the
 * real pipeline (ingest -> queue -> worker -> embedded ClickHouse, real Redis): each scenario is
 * posted at its own stretch of time (4 h apart, so no rule window sees two of them), then each
 * rule is evaluated minute by minute over it with the built-in evaluator, and what fired is read
 * from the evaluator's transitions and queued notices. Also: a ratio oscillating around the
 * error-rate threshold, with and without hysteresis, counting notices.
 */
const HOUR = 60 * MIN;
const T = Math.floor(Date.now() / MIN) * MIN;
const scenarioAt: Record<Exclude<ScenarioName, 'backfill' | 'institution-outage'>, { now: number; prefix: string }> = {
  normal: { now: T - 8 * HOUR, prefix: 'nrm-' },
  'token-required-burst': { now: T - 4 * HOUR, prefix: 'tok-' },
  'webhook-endpoint-down': { now: T, prefix: 'whk-' },
};
type Scenario = keyof typeof scenarioAt;

let p: TestPipeline;
const runs = new Map<Scenario, ScenarioRun>();
const redis: Redis[] = [];

beforeAll(async () => {
  p = await startTestPipeline();
  for (const [name, at] of Object.entries(scenarioAt) as [Scenario, (typeof scenarioAt)[Scenario]][]) {
    runs.set(name, await runScenario(name, { url: p.baseUrl, apiKey: p.apiKey }, { seed: 7, now: at.now, customerPrefix: at.prefix }));
  }
  const flapping = minuteTraffic({ institution: FLAPPY, fromMs: FLAP.from, toMs: FLAP.to, perMinute: 100, failing: flapFailures });
  expect((await p.post('logs', flapping)).status).toBe(202);
  await p.waitForIdle(120_000);
});

afterAll(async () => {
  for (const r of redis) r.disconnect();
  await p?.close();
});

interface Replay {
  transitions: TransitionRow[];
  notices: AlertNotification[];
  maxValue: Map<string, number>;
}

/** A fresh evaluator for one rule (its own state), evaluated every minute over [from, to]. */
async function replay(rule: Rule, from: number, to: number, stateName: string): Promise<Replay> {
  const connection = new Redis(p.config.REDIS_URL!);
  redis.push(connection);
  const out: Replay = { transitions: [], notices: [], maxValue: new Map() };
  const evaluator = new AlertEvaluator({
    rule,
    clickhouse: p.clickhouse,
    database: p.database,
    redis: connection,
    prefix: `${p.config.QUEUE_PREFIX}-${stateName}`,
    grafanaUrl: p.config.GRAFANA_URL,
    targets: { webhook: true, alertmanager: false },
    enqueue: async (jobs: { job: NotificationJob }[]) => {
      for (const { job } of jobs) if (job.target === 'webhook') out.notices.push(job.notification);
    },
    logger: createLogger('alerts-test', 'silent'),
  });
  for (let at = from; at <= to; at += MIN) {
    const r = await evaluator.evaluateAt(at);
    expect(r.skipped).toBeUndefined();
    out.transitions.push(...r.transitions);
    for (const i of r.instances) out.maxValue.set(i.key, Math.max(out.maxValue.get(i.key) ?? 0, i.value));
  }
  return out;
}

/** Every scenario's history plus the quarter hour after it (retries land there; alerts resolve). */
const span = (name: Scenario) => ({ from: runs.get(name)!.from + 10 * MIN, to: runs.get(name)!.to + 15 * MIN });
const fired = (r: Replay) => r.transitions.filter((t) => t.state === 'firing').map((t) => t.institution || t.customer_id);

describe('token_required surge per institution', () => {
  let burst: Replay;
  beforeAll(async () => {
    const s = span('token-required-burst');
    burst = await replay(tokenRequiredRule, s.from, s.to, 'tok-burst');
  });

  it('the token-required-burst scenario fires it for the bursting institution only, soon after the burst starts', () => {
    const incident = runs.get('token-required-burst')!.incident!;
    expect(fired(burst)).toEqual([incident.institution]);
    const firing = burst.transitions.find((t) => t.state === 'firing')!;
    const firedAt = Date.parse(`${firing.at.replace(' ', 'T')}Z`);
    expect(firedAt).toBeGreaterThan(incident.from);
    // Within one window: the 10-minute window needs half of it in the burst to pass the 40 % floor, then `for`.
    expect(firedAt - incident.from).toBeLessThanOrEqual(tokenRequiredRule.windowMinutes * MIN);
    expect(firing.error_ratio).toBeGreaterThan(tokenRequiredRule.errorRatioFloor);
  });

  it('the notice carries the share and 428 token_required requests of that institution as evidence', async () => {
    const n = burst.notices.find((x) => x.status === 'firing')!;
    expect(n).toMatchObject({ rule: { uid: tokenRequiredRule.uid }, institution: incidentTarget('token-required-burst') });
    expect(n.summary).toMatch(/token_required share \d+\.\d%/);
    expect(n.sample_request_ids).toHaveLength(tokenRequiredRule.sampleSize);
    const rows = await p.rows<{ n: string }>(
      `SELECT count() AS n FROM ${p.database}.request_logs
       WHERE request_id IN (${n.sample_request_ids.map((id) => `'${id}'`).join(',')})
         AND status_code = 428 AND error_code = 'token_required' AND institution = '${n.institution}'`,
    );
    expect(Number(rows[0]!.n)).toBe(tokenRequiredRule.sampleSize);
  });

  it('resolves once the burst is over (no traffic after the scenario: below the resolve line for the resolve time)', () => {
    expect(burst.notices.map((n) => n.notice)).toEqual(['firing', 'resolved']);
  });

  it('the normal and webhook-endpoint-down scenarios do not fire it', async () => {
    for (const name of ['normal', 'webhook-endpoint-down'] as const) {
      const r = await replay(tokenRequiredRule, span(name).from, span(name).to, `tok-${name}`);
      expect(fired(r), name).toEqual([]);
      expect(r.transitions, name).toEqual([]);
      // evaluated, with volume, and under the resolve line
      const max = Math.max(...r.maxValue.values());
      console.log(`token_required rule, ${name} scenario: highest value ${max.toFixed(3)}`);
      expect(max, name).toBeGreaterThan(0);
      expect(max, name).toBeLessThan(tokenRequiredRule.resolve.below);
    }
  });
});

describe('webhook deliveries failing per customer endpoint', () => {
  let down: Replay;
  beforeAll(async () => {
    const s = span('webhook-endpoint-down');
    down = await replay(webhookFailureRule, s.from, s.to, 'whk-down');
  });

  it('the webhook-endpoint-down scenario fires it for that customer only, soon after its endpoint went down', () => {
    const incident = runs.get('webhook-endpoint-down')!.incident!;
    expect(fired(down)).toEqual([incident.customer_id]);
    const firing = down.transitions.find((t) => t.state === 'firing')!;
    expect(firing).toMatchObject({ rule_uid: webhookFailureRule.uid, institution: '', customer_id: incident.customer_id });
    const firedAt = Date.parse(`${firing.at.replace(' ', 'T')}Z`);
    expect(firedAt).toBeGreaterThan(incident.from);
    expect(firedAt - incident.from).toBeLessThanOrEqual(webhookFailureRule.windowMinutes * MIN);
  });

  it('the notice counts failed attempts and carries webhook_ids of failed deliveries to that customer', async () => {
    const n = down.notices.find((x) => x.status === 'firing')!;
    expect(n).toMatchObject({ rule: { uid: webhookFailureRule.uid }, institution: '', customer_id: incidentTarget('webhook-endpoint-down') });
    expect(n.summary).toMatch(/failed delivery share \d+\.\d% \(\d+\/\d+ attempts/);
    expect(n.errors).toBeGreaterThanOrEqual(webhookFailureRule.minAttempts * webhookFailureRule.failureRatio);
    // by hand, from the raw attempts of the same window
    const [want] = await p.rows<{ attempts: string; failed: string }>(
      `SELECT count() AS attempts, countIf(NOT ifNull(status_code BETWEEN 200 AND 299, 0)) AS failed FROM ${p.database}.webhook_attempts
       WHERE customer_id = '${n.customer_id}' AND timestamp >= parseDateTime64BestEffort('${n.window.start}', 3) AND timestamp < parseDateTime64BestEffort('${n.window.end}', 3)`,
    );
    expect([n.requests, n.errors]).toEqual([Number(want!.attempts), Number(want!.failed)]);
    expect(n.sample_request_ids.length).toBeGreaterThan(0);
    const ids = n.sample_request_ids.map((id) => `'${id}'`).join(',');
    const [evidence] = await p.rows<{ hooks: string; delivered: string }>(
      `SELECT uniqExact(webhook_id) AS hooks, countIf(status_code BETWEEN 200 AND 299) AS delivered FROM ${p.database}.webhook_attempts
       WHERE webhook_id IN (${ids}) AND customer_id = '${n.customer_id}'`,
    );
    expect(Number(evidence!.hooks)).toBe(n.sample_request_ids.length);
    expect(Number(evidence!.delivered)).toBe(0);
  });

  it('the normal and token-required-burst scenarios do not fire it', async () => {
    for (const name of ['normal', 'token-required-burst'] as const) {
      const r = await replay(webhookFailureRule, span(name).from, span(name).to, `whk-${name}`);
      expect(fired(r), name).toEqual([]);
      const max = Math.max(...r.maxValue.values());
      console.log(`webhook rule, ${name} scenario: highest value ${max.toFixed(3)}`);
      expect(max, name).toBeGreaterThan(0);
      expect(max, name).toBeLessThan(webhookFailureRule.resolve.below);
    }
  });
});

/** An institution whose 5-minute error ratio swings around the 5 % floor (no history: the floor is the threshold). */
const FLAPPY = 'flappy_bank_mx';
const FLAP = { from: T - 14 * HOUR, to: T - 14 * HOUR + 36 * MIN };
/** 15 failures in each of 2 minutes out of 6: a 5-minute window holds 30 (6 %, value 1.2) or 15 (3 %, value 0.6). */
const flapFailures = (m: number) => (((m - FLAP.from) / MIN) % 6 < 2 ? 15 : 0);

describe('hysteresis: an error ratio oscillating around the threshold', () => {
  it('sends firing/resolved every cycle without it, one firing and one resolved with it', async () => {
    const noHysteresis: Rule = { ...defaultRule, resolve: { below: 1, afterSeconds: 0 } };
    const from = FLAP.from + 6 * MIN;
    const to = FLAP.to + 10 * MIN;
    const before = await replay(noHysteresis, from, to, 'flap-before');
    const after = await replay(defaultRule, from, to, 'flap-after');
    const noticesOf = (r: Replay) => r.notices.filter((n) => n.institution === FLAPPY).map((n) => n.notice);
    // the ratio did swing across the threshold and under the resolve line
    const values = await valuesOf(from, FLAP.to);
    expect(Math.max(...values)).toBeCloseTo(1.2, 9);
    expect(Math.min(...values)).toBeCloseTo(0.6, 9);
    console.log(`flapping ratio, ${values.length} evaluations: ${noticesOf(before).length} notices without hysteresis, ${noticesOf(after).length} with it`);
    expect(noticesOf(before).length).toBeGreaterThanOrEqual(8);
    expect(noticesOf(before).slice(0, 4)).toEqual(['firing', 'resolved', 'firing', 'resolved']);
    expect(noticesOf(after)).toEqual(['firing', 'resolved']);
    // with it, the resolved notice comes only after the traffic stopped and the resolve time passed
    const resolved = after.notices.find((n) => n.institution === FLAPPY && n.notice === 'resolved')!;
    expect(Date.parse(resolved.resolved_at!)).toBeGreaterThanOrEqual(FLAP.to + defaultRule.resolve.afterSeconds * 1000);
  });
});

async function valuesOf(from: number, to: number): Promise<number[]> {
  const connection = new Redis(p.config.REDIS_URL!, { lazyConnect: true });
  redis.push(connection);
  const evaluator = new AlertEvaluator({
    rule: defaultRule,
    clickhouse: p.clickhouse,
    database: p.database,
    redis: connection,
    prefix: `${p.config.QUEUE_PREFIX}-values`,
    grafanaUrl: p.config.GRAFANA_URL,
    targets: { webhook: false, alertmanager: false },
    enqueue: async () => {},
    logger: createLogger('alerts-test', 'silent'),
  });
  const values: number[] = [];
  for (let at = from; at <= to; at += MIN) values.push((await evaluator.figuresAt(at)).find((i) => i.labels.institution === FLAPPY)?.value ?? 0);
  return values;
}

function incidentTarget(name: Scenario): string {
  const incident = runs.get(name)!.incident!;
  return (incident.institution ?? incident.customer_id)!;
}
