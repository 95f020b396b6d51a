import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { MAX_WEBHOOK_ATTEMPTS, runScenario, type ScenarioName, type ScenarioRun } from '../../simulator/index.js';

// Each scenario is posted through the real ingest API under its own customer prefix, and its
// signature is looked for in ClickHouse the way someone reading the dashboards would.
let p: TestPipeline;
const now = Date.now();
beforeAll(async () => {
  p = await startTestPipeline();
});
afterAll(async () => {
  await p?.close();
});

async function simulate(name: ScenarioName, prefix: string, extra: { days?: number } = {}): Promise<ScenarioRun> {
  const run = await runScenario(name, { url: p.baseUrl, apiKey: p.apiKey }, { seed: 11, now, customerPrefix: prefix, ...extra });
  await p.waitForIdle(120_000);
  return run;
}
const t = (ms: number) => `toDateTime64(${ms / 1000}, 3, 'UTC')`;
const one = async <T extends Record<string, unknown>>(sql: string) => {
  const [row] = await p.rows<T>(sql);
  return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)])) as Record<keyof T, number>;
};

describe('scenario simulator, seen in ClickHouse', () => {
  it('normal: the endpoint mix, mostly 2xx, links across institutions and modes, the link lifecycle, retried webhooks', async () => {
    const run = await simulate('normal', 'nrm-');
    const db = p.database;
    const where = `customer_id LIKE 'nrm-%'`;
    const logs = await one<{ n: number; endpoints: number; ok: number; e428: number; e5xx: number; successBodies: number }>(
      `SELECT count() n, uniqExact(method, endpoint) endpoints, countIf(status_code < 300) ok, countIf(status_code = 428) e428,
              countIf(status_code >= 500) e5xx, countIf(status_code < 400 AND response_body != '') successBodies
       FROM ${db}.request_logs WHERE ${where}`,
    );
    expect(logs.n).toBe(run.posted.logs);
    expect(logs.endpoints).toBe(10);
    expect(logs.ok / logs.n).toBeGreaterThan(0.75);
    expect(logs.ok / logs.n).toBeLessThan(0.95);
    expect(logs.e428).toBeGreaterThan(0);
    expect(logs.e5xx).toBeGreaterThan(0);
    expect(logs.successBodies).toBe(0);

    const links = await one<{ institutions: number; modes: number }>(`SELECT uniqExact(institution) institutions, uniqExact(access_mode) modes FROM ${db}.links WHERE ${where}`);
    expect(links).toEqual({ institutions: 5, modes: 2 });
    const histories = await p.rows<{ h: string[] }>(
      `SELECT groupArray(status) h FROM (SELECT link_id, status FROM ${db}.links WHERE ${where} ORDER BY link_id, updated_at) GROUP BY link_id`,
    );
    const has = (seq: string) => histories.some((r) => r.h.join('>').includes(seq));
    expect(has('valid>token_required>valid')).toBe(true);
    expect(has('token_required>invalid')).toBe(true);

    const hooks = await one<{ webhooks: number; delivered: number; retriedThenDelivered: number }>(
      `SELECT count() webhooks, countIf(ok) delivered, countIf(ok AND tries > 1) retriedThenDelivered FROM (
         SELECT webhook_id, max(attempt) tries, max(ifNull(status_code BETWEEN 200 AND 299, 0)) ok FROM ${db}.webhook_attempts WHERE ${where} GROUP BY webhook_id)`,
    );
    expect(hooks.delivered / hooks.webhooks).toBeGreaterThan(0.9);
    expect(hooks.retriedThenDelivered).toBeGreaterThan(0);
  });

  it('token-required-burst: the institution\'s 428s jump, its links go token_required, token_required webhooks follow', async () => {
    const run = await simulate('token-required-burst', 'tok-');
    const { from, to, institution } = run.incident!;
    const db = p.database;
    const share = (a: number, b: number) =>
      one<{ n: number; e428: number }>(
        `SELECT count() n, countIf(status_code = 428) e428 FROM ${db}.request_logs
         WHERE customer_id LIKE 'tok-%' AND institution = '${institution}' AND timestamp >= ${t(a)} AND timestamp < ${t(b)}`,
      );
    const before = await share(run.from, from);
    const during = await share(from, to);
    expect(during.e428 / during.n).toBeGreaterThan(0.5);
    expect(before.e428 / before.n).toBeLessThan(0.2);
    const flips = await one<{ during: number; before: number }>(
      `SELECT countIf(updated_at >= ${t(from)}) during, countIf(updated_at < ${t(from)} AND updated_at > ${t(run.from)}) before
       FROM ${db}.links WHERE customer_id LIKE 'tok-%' AND institution = '${institution}' AND status = 'token_required'`,
    );
    expect(flips.during).toBeGreaterThan(5);
    // per minute: the burst's 30 minutes against the 90 before it
    expect(flips.during / 30).toBeGreaterThan((3 * flips.before) / 90);
    const events = await one<{ n: number }>(
      `SELECT uniqExact(webhook_id) n FROM ${db}.webhook_attempts WHERE customer_id LIKE 'tok-%' AND event = 'token_required' AND timestamp >= ${t(from)}
         AND link_id IN (SELECT link_id FROM ${db}.links WHERE institution = '${institution}')`,
    );
    expect(events.n).toBe(flips.during);
  });

  it('institution-outage: one institution\'s 5xx spike for the incident only, blamed on the institution', async () => {
    const run = await simulate('institution-outage', 'out-');
    const { from, to, institution } = run.incident!;
    const db = p.database;
    const ratio = async (cond: string, a: number, b: number) => {
      const r = await one<{ n: number; e: number }>(
        `SELECT count() n, countIf(status_code >= 500) e FROM ${db}.request_logs
         WHERE customer_id LIKE 'out-%' AND ${cond} AND timestamp >= ${t(a)} AND timestamp < ${t(b)}`,
      );
      return r.e / r.n;
    };
    const at = `institution = '${institution}'`;
    expect(await ratio(at, from, to)).toBeGreaterThan(0.6);
    expect(await ratio(at, run.from, from)).toBeLessThan(0.15);
    expect(await ratio(at, to, run.to)).toBeLessThan(0.15);
    expect(await ratio(`institution != '${institution}'`, from, to)).toBeLessThan(0.15);
    const origins = await p.rows<{ error_origin: string }>(
      `SELECT DISTINCT error_origin FROM ${db}.request_logs WHERE customer_id LIKE 'out-%' AND ${at} AND status_code IN (502, 503, 504) AND timestamp >= ${t(from)} AND timestamp < ${t(to)}`,
    );
    expect(origins.map((o) => o.error_origin)).toEqual(['institution']);
  });

  it('webhook-endpoint-down: the customer\'s webhooks exhaust their retries undelivered; others are fine', async () => {
    const run = await simulate('webhook-endpoint-down', 'whk-');
    const { from, customer_id } = run.incident!;
    const db = p.database;
    // From a minute in: a call just before the endpoint went down may trigger a webhook just after.
    const delivery = (cond: string) =>
      one<{ webhooks: number; delivered: number; exhausted: number; noResponse: number }>(
        `SELECT count() webhooks, countIf(ok) delivered, countIf(tries = ${MAX_WEBHOOK_ATTEMPTS} AND NOT ok) exhausted, sum(noResponse) noResponse FROM (
           SELECT webhook_id, max(attempt) tries, max(ifNull(status_code BETWEEN 200 AND 299, 0)) ok, countIf(status_code IS NULL) noResponse, min(timestamp) first
           FROM ${db}.webhook_attempts WHERE customer_id LIKE 'whk-%' AND ${cond} GROUP BY webhook_id)
         WHERE first >= ${t(from + 60_000)}`,
      );
    const down = await delivery(`customer_id = '${customer_id}'`);
    expect(down.webhooks).toBeGreaterThan(5);
    expect(down.delivered).toBe(0);
    expect(down.exhausted).toBe(down.webhooks);
    expect(down.noResponse).toBeGreaterThan(down.webhooks);
    const others = await delivery(`customer_id != '${customer_id}'`);
    expect(others.delivered / others.webhooks).toBeGreaterThan(0.9);
    const before = await one<{ webhooks: number; delivered: number }>(
      `SELECT count() webhooks, countIf(ok) delivered FROM (SELECT webhook_id, max(ifNull(status_code BETWEEN 200 AND 299, 0)) ok, min(timestamp) first
       FROM ${db}.webhook_attempts WHERE customer_id = '${customer_id}' GROUP BY webhook_id) WHERE first < ${t(from)}`,
    );
    expect(before.delivered / before.webhooks).toBeGreaterThan(0.9);
  });

  it('backfill: days of history, every hour of them, with a working-day shape, in the rollups too', async () => {
    const run = await simulate('backfill', 'bkf-', { days: 7 });
    const db = p.database;
    expect(run.to - run.from).toBeGreaterThanOrEqual(7 * 86_400_000);
    const span = await one<{ n: number; hours: number; days: number }>(
      `SELECT count() n, uniqExact(toStartOfHour(timestamp)) hours, uniqExact(toDate(timestamp)) days FROM ${db}.request_logs WHERE customer_id LIKE 'bkf-%'`,
    );
    expect(span.n).toBe(run.posted.logs);
    expect(span.days).toBeGreaterThanOrEqual(7);
    expect(span.hours).toBeGreaterThanOrEqual(7 * 24);
    const byHour = await p.rows<{ h: number; n: number }>(
      `SELECT toHour(timestamp) h, count() n FROM ${db}.request_logs WHERE customer_id LIKE 'bkf-%' GROUP BY h`,
    );
    const counts = byHour.map((r) => Number(r.n));
    expect(Math.max(...counts)).toBeGreaterThan(3 * Math.min(...counts));
    const rollup = await one<{ n: number }>(`SELECT sum(requests) n FROM ${db}.request_stats_1m WHERE customer_id LIKE 'bkf-%'`);
    expect(rollup.n).toBe(run.posted.logs);
  });
});
