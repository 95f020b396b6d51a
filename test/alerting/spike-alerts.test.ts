import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { createLogger } from '../../lib/logger.js';
import { startAlerting, type AlertingRuntime } from '../../alerting/runtime.js';
import { AlertEvaluator, type EvaluationResult } from '../../alerting/evaluator.js';
import { defaultRule, type ErrorRateRule } from '../../alerting/rule.js';
import { evaluatorSql, ruleFiguresSql } from '../../alerting/rule-sql.js';
import type { AlertNotification } from '../../alerting/notification.js';
import { generatedDir } from '../../dashboards/generate.js';
import { expandQuery } from '../dashboards/grafana-expander.js';
import { startReceiver } from './receiver.js';
import { alertmanagerBinary, alertmanagerInstalled, startAlertmanager } from './alertmanager.js';
import { DAY, median, MIN, minuteTraffic, onEachDay, type Log } from './traffic.js';

/**
 * The issue's proof, through the real pipeline (ingest -> queue -> worker -> embedded ClickHouse,
 * real Redis): the built-in evaluator runs with the default rule at chosen evaluation times
 * (minutes apart, no sleeping), notices go to a real HTTP receiver (and a real Alertmanager when
 * Debian's prometheus-alertmanager is installed), and Grafana's rule SQL is run as Grafana runs it.
 */
const rule = defaultRule;
const secret = 'webhook-test-secret';
const T_A = Math.floor(Date.now() / MIN) * MIN - 60 * MIN; // scenario A: the spike
const T_B = T_A + 20 * MIN; // scenario B: steady-noisy vs newly noisy
const SPIKE = { from: T_A - MIN, to: T_A + 2 * MIN };
/** The first evaluation whose window is clean (value far under the resolve line)... */
const CLEAN = T_A + 7 * MIN;
/** ...and the one that resolves: below the resolve threshold for the rule's resolve time (hysteresis). */
const RESOLVED = CLEAN + defaultRule.resolve.afterSeconds * 1000;

const inst = {
  calm: ['erebor_mx_retail', 'gringotts_br_retail', 'banco_azul_co'],
  spiky: 'iron_bank_br_business',
  tiny: 'tiny_coop_mx',
  timeouts: 'rivendell_mx_fiscal',
  steadyNoisy: 'mirkwood_ar_retail',
  newlyNoisy: 'shire_cl_retail',
};

/** One failure per five minutes: a 1 % error ratio in any 5-minute window. */
const usual = (m: number) => ((m / MIN) % 5 === 0 ? 1 : 0);
const perMinute = 20;

function world(): Log[] {
  const aroundA = (make: (from: number, to: number, day: number) => Log[]) => onEachDay(7, T_A - 10 * MIN, T_A + 10 * MIN, make);
  const aroundB = (make: (from: number, to: number, day: number) => Log[]) => onEachDay(7, T_B - 10 * MIN, T_B + 5 * MIN, make);
  return [
    ...inst.calm.flatMap((institution) => aroundA((fromMs, toMs) => minuteTraffic({ institution, fromMs, toMs, perMinute, failing: usual }))),
    // Usual history; today 12 of 20 requests fail with 500 for three minutes.
    ...aroundA((fromMs, toMs, day) =>
      minuteTraffic({ institution: inst.spiky, fromMs, toMs, perMinute, failing: (m) => (day === 0 && m >= SPIKE.from && m < SPIKE.to ? 12 : usual(m)) }),
    ),
    // Two requests, one 500: a 50 % ratio on no volume.
    ...minuteTraffic({ institution: inst.tiny, fromMs: T_A - 3 * MIN, toMs: T_A - 2 * MIN, perMinute: 2, failing: () => 1 }),
    // Today 40 % 408 institution_timeout: not an error by default (status < 500), one if configured.
    ...aroundA((fromMs, toMs, day) =>
      day === 0
        ? minuteTraffic({ institution: inst.timeouts, fromMs, toMs, perMinute, failing: () => 8, status: 408 })
        : minuteTraffic({ institution: inst.timeouts, fromMs, toMs, perMinute, failing: usual }),
    ),
    // 30 % 502s every day at this time: its normal.
    ...aroundB((fromMs, toMs) => minuteTraffic({ institution: inst.steadyNoisy, fromMs, toMs, perMinute, failing: () => 6, status: 502 })),
    // Usually clean; today the same 30 % from T_B - 5 min on.
    ...aroundB((fromMs, toMs, day) =>
      minuteTraffic({ institution: inst.newlyNoisy, fromMs, toMs, perMinute, status: 502, failing: (m) => (day === 0 && m >= T_B - 5 * MIN ? 6 : usual(m)) }),
    ),
  ];
}

/** What an SRE would compute by hand from the posted records. */
function expectedFigures(logs: Log[], institution: string, evalAt: number) {
  const end = Math.floor(evalAt / MIN) * MIN;
  const start = end - rule.windowMinutes * MIN;
  const inWindow = (day: number) => logs.filter((l) => l.institution === institution && l.timestamp >= start - day * DAY && l.timestamp < end - day * DAY);
  const ratio = (ls: Log[]) => ls.filter((l) => l.status_code >= 500).length / ls.length;
  const today = inWindow(0);
  const days = Array.from({ length: 7 }, (_, i) => inWindow(i + 1)).filter((ls) => ls.length >= rule.minRequests);
  return {
    window: { start, end },
    requests: today.length,
    errors: today.filter((l) => l.status_code >= 500).length,
    failingIds: new Set(today.filter((l) => l.status_code >= 500).map((l) => l.request_id)),
    baseline_ratio: days.length ? median(days.map(ratio)) : 0,
  };
}

let p: TestPipeline;
let alerting: AlertingRuntime;
let logs: Log[];
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let am: Awaited<ReturnType<typeof startAlertmanager>> | undefined;
const results = new Map<number, EvaluationResult>();

const evaluate = async (at: number) => {
  const r = await alerting.evaluator.evaluateAt(at);
  results.set(at, r);
  return r;
};
const byInstitution = (r: EvaluationResult) => new Map(r.instances.map((i) => [i.labels.institution, i]));
const notices = () => receiver.delivered.map((d) => d.body as AlertNotification);

beforeAll(async () => {
  receiver = await startReceiver({ failFirst: 2 });
  if (alertmanagerInstalled()) am = await startAlertmanager();
  p = await startTestPipeline({
    ALERT_WEBHOOK_URL: receiver.url,
    ALERT_WEBHOOK_SECRET: secret,
    ...(am ? { ALERTMANAGER_URL: am.url } : {}),
  });
  logs = world();
  for (let i = 0; i < logs.length; i += 5000) {
    const res = await p.post('logs', logs.slice(i, i + 5000));
    expect(res.status).toBe(202);
  }
  await p.waitForIdle();
  alerting = await startAlerting({ config: p.config, clickhouse: p.clickhouse, logger: createLogger('alerts-test', p.config.LOG_LEVEL), schedule: false });
});

afterAll(async () => {
  await alerting?.stop();
  await p?.close();
  await receiver?.close();
  await am?.stop();
});

describe('a 500 spike at one institution among several with normal traffic', () => {
  it('the data went through the pipeline into the rollups', async () => {
    for (const table of ['request_stats_1m', 'request_status_1m']) {
      const [row] = await p.rows<{ n: string | number }>(`SELECT sum(requests) AS n FROM ${p.database}.${table}`);
      expect(Number(row!.n), table).toBe(logs.length);
    }
  });

  it('the rule reads request_status_1m and gets the figures request_stats_1m gives, for every variant', async () => {
    expect(evaluatorSql(rule, p.database)).toContain(`FROM ${p.database}.request_status_1m\n`);
    const variants: ErrorRateRule[] = [
      rule,
      { ...rule, errorCodes: ['institution_timeout'] },
      { ...rule, perCustomer: true },
      { ...rule, errorStatusMin: 400 },
      { ...rule, baseline: { method: 'ewma', hours: 3, halfLifeMinutes: 60 } },
    ];
    let compared = 0;
    for (const variant of variants) {
      for (const at of [T_A, T_A + MIN, T_A + 7 * MIN, T_B, T_B + MIN]) {
        const figures = (table: string) =>
          p.rows(ruleFiguresSql(variant, `${p.database}.${table}`).replaceAll('$__toTime', `toDateTime(${Math.floor(at / 1000)})`));
        // to 12 significant digits: the two tables split the same counts into other rows, and a
        // ratio summed in another order may differ in its last bit (0.009998665535931522 / ...523)
        const figures12 = async (table: string) =>
          (await figures(table)).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(12)) : v])));
        const narrow = await figures12('request_status_1m');
        expect(narrow.length).toBeGreaterThan(0);
        expect(narrow).toEqual(await figures12('request_stats_1m'));
        compared += narrow.length;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('the first evaluation after the spike minute makes only that institution pending', async () => {
    const r = await evaluate(T_A);
    expect(r.skipped).toBeUndefined();
    expect(r.transitions.map((t) => [t.institution, t.state])).toEqual([[inst.spiky, 'pending']]);
    expect(r.instances.filter((i) => i.breaching).map((i) => i.labels.institution)).toEqual([inst.spiky]);
    expect(r.notifications).toEqual([]);
  });

  it('the second fires it and queues the notice without waiting for the (failing) receiver', async () => {
    const r = await evaluate(T_A + MIN);
    expect(r.transitions.map((t) => [t.institution, t.state])).toEqual([[inst.spiky, 'firing']]);
    // The receiver refuses the first two deliveries; evaluation returned before any got through.
    expect(receiver.delivered).toHaveLength(0);
    const [received] = await receiver.waitFor(1);
    expect(receiver.attempts()).toBe(3);
    const n = received!.body as AlertNotification;
    if (process.env.ALERT_RECORD_DIR) writeFileSync(join(process.env.ALERT_RECORD_DIR, 'firing.json'), JSON.stringify(n, null, 2));

    // Within two evaluation intervals of the spike's first minute.
    expect(T_A + MIN - SPIKE.from).toBeLessThanOrEqual(2 * rule.evalIntervalSeconds * 1000);

    const want = expectedFigures(logs, inst.spiky, T_A + MIN);
    expect(n).toMatchObject({
      status: 'firing',
      notice: 'firing',
      institution: inst.spiky,
      requests: want.requests,
      errors: want.errors,
      window: { start: new Date(want.window.start).toISOString(), end: new Date(want.window.end).toISOString(), minutes: 5 },
    });
    expect(want.errors).toBeGreaterThanOrEqual(24);
    expect(n.error_ratio).toBeCloseTo(want.errors / want.requests, 9);
    expect(n.baseline_ratio).toBeCloseTo(want.baseline_ratio, 9);
    expect(n.baseline_ratio).toBeCloseTo(0.01, 9);
    expect(n.error_ratio).toBeGreaterThan(n.threshold);
    // Evidence: real failing requests of this institution in this window.
    expect(n.sample_request_ids).toHaveLength(rule.sampleSize);
    for (const id of n.sample_request_ids) expect(want.failingIds.has(id), id).toBe(true);
    expect(n.links.insights).toMatch(new RegExp(`^http://localhost:3000/d/insights\\?var-institution=${inst.spiky}&`));
    expect(n.links.logs).toBe(`http://localhost:3000/d/logs?var-institution=${inst.spiky}&from=${want.window.start}&to=${want.window.end}`);

    // Signed: HMAC-SHA256 over "<t>.<body>" with the configured secret.
    const [, t, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(received!.headers['x-alert-signature']))!;
    expect(mac).toBe(createHmac('sha256', secret).update(`${t}.${received!.raw}`).digest('hex'));
    expect(received!.headers['idempotency-key']).toBe(n.id);
  });

  it('no repeat notice while it keeps firing', async () => {
    for (let k = 2; k <= 6; k++) {
      const r = await evaluate(T_A + k * MIN);
      expect(r.transitions, `minute ${k}`).toEqual([]);
      expect(r.notifications, `minute ${k}`).toEqual([]);
      expect(byInstitution(r).get(inst.spiky)!.breaching, `minute ${k}`).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(notices().map((n) => [n.institution, n.notice])).toEqual([[inst.spiky, 'firing']]);
  });

  it('an evaluation at a time already evaluated changes nothing (a re-delivered job)', async () => {
    expect((await alerting.evaluator.evaluateAt(T_A + 6 * MIN)).skipped).toBe('already evaluated');
  });

  if (alertmanagerInstalled()) {
    it('the firing alert is in a real Alertmanager, read back from its API', async () => {
      const alerts = await pollAlertmanager((as) => as.length === 1);
      expect(alerts[0]).toMatchObject({
        labels: { alertname: 'ErrorRateSpike', institution: inst.spiky, rule_uid: rule.uid, severity: 'warning' },
        status: { state: 'active' },
        startsAt: new Date(T_A + MIN).toISOString(),
      });
      const want = expectedFigures(logs, inst.spiky, T_A + 6 * MIN);
      expect(Number(alerts[0]!.annotations.requests)).toBe(want.requests);
      expect(Number(alerts[0]!.annotations.errors)).toBe(want.errors);
      expect(alerts[0]!.annotations.sample_request_ids!.split(',')).toHaveLength(rule.sampleSize);
    });
  } else {
    it.skip(`Alertmanager round trip: ${alertmanagerBinary} is not installed (apt-get install prometheus-alertmanager)`, () => {});
  }

  it('the spike ends: one resolved notice once the ratio stayed low for the resolve time, the state is cleared', async () => {
    // Below the resolve line, but not for long enough yet: still firing, nothing sent.
    for (let at = CLEAN; at < RESOLVED; at += MIN) {
      const r = await evaluate(at);
      expect(byInstitution(r).get(inst.spiky)!.value, new Date(at).toISOString()).toBeLessThan(rule.resolve.below);
      expect(r.transitions).toEqual([]);
      expect(r.notifications).toEqual([]);
    }
    expect(RESOLVED - CLEAN).toBe(2 * MIN);
    const r = await evaluate(RESOLVED);
    expect(r.transitions.map((t) => [t.institution, t.state])).toEqual([[inst.spiky, 'resolved']]);
    await receiver.waitFor(2);
    const resolved = notices()[1]!;
    const want = expectedFigures(logs, inst.spiky, RESOLVED);
    expect(resolved).toMatchObject({ status: 'resolved', institution: inst.spiky, requests: want.requests, errors: want.errors, resolved_at: new Date(RESOLVED).toISOString() });
    expect(resolved.firing_since).toBe(new Date(T_A + MIN).toISOString());
    expect(resolved.id).not.toBe(notices()[0]!.id);

    expect((await alerting.evaluator.activeInstances()).map((s) => s.key)).toEqual([]);
    const history = await p.rows<{ state: string; previous_state: string; at: number; active_since: number; requests: number; errors: number; sample_request_ids: string[] }>(
      `SELECT state, previous_state, toUnixTimestamp64Milli(at) AS at, toUnixTimestamp64Milli(active_since) AS active_since, requests, errors, sample_request_ids
       FROM ${p.database}.alerts FINAL WHERE institution = '${inst.spiky}' ORDER BY at`,
    );
    expect(history.map((h) => [h.previous_state, h.state, Number(h.at), Number(h.active_since)])).toEqual([
      ['', 'pending', T_A, T_A],
      ['pending', 'firing', T_A + MIN, T_A],
      ['firing', 'resolved', RESOLVED, T_A],
    ]);
    expect(history[1]!.sample_request_ids).toEqual(notices()[0]!.sample_request_ids);
    expect(Number(history[2]!.errors)).toBe(want.errors);
    // Nothing else changed state during the spike.
    const others = await p.rows(`SELECT institution FROM ${p.database}.alerts FINAL WHERE institution != '${inst.spiky}'`);
    expect(others).toEqual([]);
  });

  if (alertmanagerInstalled()) {
    it('Alertmanager learns it resolved', async () => {
      await pollAlertmanager((as) => as.length === 0);
    });
  }
});

describe('noise that must not page', () => {
  it('1 error in 2 requests does not fire: the volume guard', () => {
    const tiny = byInstitution(results.get(T_A)!).get(inst.tiny)!;
    expect(tiny).toMatchObject({ requests: 2, errors: 1, error_ratio: 0.5, value: 0, breaching: false });
    for (const r of results.values()) expect(r.transitions.some((t) => t.institution === inst.tiny)).toBe(false);
  });

  it('a steady 30 % does not fire; the same 30 % on a normally clean institution does', async () => {
    const first = await evaluate(T_B);
    const second = await evaluate(T_B + MIN);
    for (const r of [first, second]) {
      const steady = byInstitution(r).get(inst.steadyNoisy)!;
      const newly = byInstitution(r).get(inst.newlyNoisy)!;
      expect(steady.error_ratio).toBeCloseTo(0.3, 9);
      expect(newly.error_ratio).toBeCloseTo(0.3, 9);
      expect(steady.baseline_ratio).toBeCloseTo(expectedFigures(logs, inst.steadyNoisy, r.asOf).baseline_ratio, 9);
      expect(steady.baseline_ratio).toBeCloseTo(0.3, 9);
      expect(newly.baseline_ratio).toBeCloseTo(0.01, 9);
      expect([steady.breaching, newly.breaching]).toEqual([false, true]);
    }
    expect(first.transitions.map((t) => [t.institution, t.state])).toEqual([[inst.newlyNoisy, 'pending']]);
    expect(second.transitions.map((t) => [t.institution, t.state])).toEqual([[inst.newlyNoisy, 'firing']]);
    await receiver.waitFor(3);
    expect(notices().map((n) => [n.institution, n.notice])).toEqual([
      [inst.spiky, 'firing'],
      [inst.spiky, 'resolved'],
      [inst.newlyNoisy, 'firing'],
    ]);
    expect(notices()[2]!.error_ratio).toBeCloseTo(0.3, 9);
  });

  it('the EWMA baseline (the alternative) draws the same line between the two', async () => {
    const ewma = await evaluatorFor({ ...rule, baseline: { method: 'ewma', hours: 3, halfLifeMinutes: 60 } }).figuresAt(T_B);
    const by = new Map(ewma.map((i) => [i.labels.institution, i]));
    expect(by.get(inst.steadyNoisy)!.baseline_ratio).toBeCloseTo(0.3, 9);
    expect([by.get(inst.steadyNoisy)!.breaching, by.get(inst.newlyNoisy)!.breaching]).toEqual([false, true]);
  });

  it('4xx are not errors by default; a configured error code makes them count', async () => {
    expect(byInstitution(results.get(T_A)!).get(inst.timeouts)).toMatchObject({ errors: 0, breaching: false });
    const withCodes = await evaluatorFor({ ...rule, errorCodes: ['institution_timeout'] }).figuresAt(T_A);
    const timeouts = withCodes.find((i) => i.labels.institution === inst.timeouts)!;
    expect(timeouts).toMatchObject({ requests: 100, errors: 40, breaching: true });
  });

  it('per institution and customer when configured: one instance per pair', async () => {
    const perCustomer = await evaluatorFor({ ...rule, perCustomer: true }).figuresAt(T_A + MIN);
    expect(perCustomer.find((i) => i.labels.institution === inst.spiky)).toMatchObject({ key: `${inst.spiky}/acme_lending`, labels: { customer_id: 'acme_lending' }, breaching: true });
  });
});

describe("Grafana's rule", () => {
  /** The committed provisioning file, read as Grafana reads it (rawSql is a JSON string on one line). */
  const file = readFileSync(join(generatedDir, 'provisioning/alerting/error-rate.yaml'), 'utf8');
  const rawSql = JSON.parse(/^\s+rawSql: (".*")$/m.exec(file)![1]!) as string;
  const lookbackS = Number(/relativeTimeRange:\s+from: (\d+)\s+to: 0/.exec(file)![1]);
  const intervalMs = Number(/intervalMs: (\d+)/.exec(file)![1]);

  it('with its macros expanded as Grafana would, returns the evaluator’s value for every institution', async () => {
    // Grafana's datasource has defaultDatabase set; this session does the same. The worker's SQL is fully qualified.
    await p.clickhouse.command({ query: `USE ${p.database}` });
    const times = [...Array.from({ length: 10 }, (_, k) => T_A + k * MIN), T_B, T_B + MIN];
    let compared = 0;
    for (const at of times) {
      const sql = expandQuery(rawSql, { fromMs: at - lookbackS * 1000, toMs: at, intervalMs, variables: {} });
      expect(sql).not.toMatch(/\$/);
      const grafana = await p.rows<{ institution: string; value: number }>(sql);
      const ours = await alerting.evaluator.figuresAt(at);
      expect(grafana.map((g) => g.institution)).toEqual(ours.map((o) => o.labels.institution));
      for (const [i, g] of grafana.entries()) {
        expect(Object.keys(g).sort()).toEqual(['institution', 'value']);
        expect(Number(g.value), `${g.institution} at ${new Date(at).toISOString()}`).toBeCloseTo(ours[i]!.value, 12);
        // Grafana's condition (threshold C: B > 1) agrees with the evaluator's.
        expect(Number(g.value) > 1).toBe(ours[i]!.breaching);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(30);
    expect(file).toContain('for: "60s"');
    // Condition C: query A's value above 1, and (recovery threshold) a firing instance stays until it is under 0.8.
    expect(file).toMatch(
      /conditions:\n\s+- evaluator:\n\s+type: "gt"\n\s+params:\n\s+- 1\n\s+unloadEvaluator:\n\s+type: "lt"\n\s+params:\n\s+- 0\.8\n\s+expression: "A"\n\s+type: "threshold"/,
    );
    expect(file).toContain('keepFiringFor: "120s"');
  });
});

async function pollAlertmanager(done: (alerts: AmAlert[]) => boolean): Promise<AmAlert[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`${am!.url}/api/v2/alerts?filter=${encodeURIComponent(`institution="${inst.spiky}"`)}`);
    const alerts = ((await res.json()) as AmAlert[]).filter((a) => a.status.state === 'active');
    if (done(alerts)) return alerts;
    if (Date.now() > deadline) throw new Error(`Alertmanager never reached the expected state: ${JSON.stringify(alerts)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/** A second evaluator with another rule, state kept apart: only figuresAt is used. */
function evaluatorFor(r: ErrorRateRule) {
  return new AlertEvaluator({
    rule: r,
    clickhouse: p.clickhouse,
    database: p.database,
    redis: new Redis(p.config.REDIS_URL!, { lazyConnect: true }),
    prefix: `${p.config.QUEUE_PREFIX}-variant`,
    grafanaUrl: p.config.GRAFANA_URL,
    targets: { webhook: false, alertmanager: false },
    enqueue: async () => {},
    logger: createLogger('alerts-test', 'silent'),
  });
}
