import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboards/dashboard-json.js';
import { expandQuery } from './dashboards/grafana-expander.js';

// Records posted over HTTP -> rows in the raw tables with the right values -> rollups that agree with them.
let p: TestPipeline;
let db: string;
const t0 = Date.parse('2026-11-20T10:00:00.000Z');
const institutions = ['bank_a', 'bank_b', 'bank_c'];

beforeAll(async () => {
  p = await startTestPipeline();
  db = p.database;
  const logs = Array.from({ length: 600 }, (_, i) => {
    const status = [200, 200, 201, 428, 500, 404][i % 6]!;
    return {
      request_id: `req-${i}`,
      timestamp: new Date(t0 + i * 997).toISOString(),
      method: ['GET', 'POST', 'PATCH'][i % 3],
      endpoint: ['/api/transactions/', '/api/accounts/'][i % 2],
      status_code: status,
      duration_ms: 10 + (i % 50),
      link_id: `link-${i % 7}`,
      external_id: `user-${i % 7}`,
      institution: institutions[i % 3],
      customer_id: `cust_${i % 2}`,
      ...(status >= 400
        ? {
            error: { code: status === 428 ? 'token_required' : 'unexpected_error', message: 'm' },
            error_origin: status === 428 ? 'institution' : 'internal',
            response_body: { code: status === 428 ? 'token_required' : 'unexpected_error', request_id: `req-${i}` },
          }
        : { response_body: { secret: 'balance' } }),
    };
  });
  // several HTTP batches, so the worker coalesces jobs
  for (let i = 0; i < logs.length; i += 100) expect((await p.post('logs', logs.slice(i, i + 100))).status).toBe(202);
  const attempts = Array.from({ length: 40 }, (_, i) => ({
    webhook_id: `wh-${Math.floor(i / 2)}`,
    event: i % 4 < 2 ? 'new_transactions_available' : 'historical_update',
    type: i % 4 < 2 ? 'TRANSACTIONS' : 'LINKS',
    link_id: `link-${i % 7}`,
    attempt: (i % 2) + 1,
    url: 'https://hooks.example/x',
    status_code: i % 2 === 0 ? (i % 8 === 0 ? null : 500) : 200,
    ...(i % 8 === 0 ? { error: 'timeout' } : {}),
    timestamp: t0 + i * 30_000,
    payload: { webhook_id: `wh-${Math.floor(i / 2)}`, data: { n: i } },
  }));
  expect((await p.post('webhook-attempts', attempts)).status).toBe(202);
  const states = ['valid', 'token_required', 'valid', 'invalid'] as const;
  const links = states.map((status, i) => ({
    link_id: 'link-0',
    status,
    access_mode: 'recurrent',
    institution: 'bank_a',
    created_at: t0 - 86_400_000,
    updated_at: t0 + i * 60_000,
    external_id: 'user-0',
  }));
  // posted newest first: the newest updated_at must still win
  expect((await p.post('links', [...links].reverse())).status).toBe(202);
  await p.waitForIdle();
});
afterAll(async () => {
  await p?.close();
});

const num = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])));
/** Requests per minute and `dims` in a per-minute request rollup. */
const perMinute = async (table: string, dims: string) =>
  num(await p.rows(`SELECT minute, ${dims}, sum(requests) AS n FROM ${db}.${table} GROUP BY minute, ${dims} ORDER BY ALL`));
/** The same counts from the raw logs. */
const rawPerMinute = async (dims: string) =>
  num(await p.rows(`SELECT toStartOfMinute(timestamp) AS minute, ${dims}, count() AS n FROM ${db}.request_logs GROUP BY minute, ${dims} ORDER BY ALL`));

describe('end to end', () => {
  it('stores a request log with every field as posted, and an error body only for errors', async () => {
    const [err] = await p.rows(`SELECT * EXCEPT (batch_id, ingested_at) FROM ${db}.request_logs WHERE request_id = 'req-3'`);
    expect(err).toEqual({
      request_id: 'req-3',
      timestamp: '2026-11-20 10:00:02.991',
      method: 'GET',
      endpoint: '/api/accounts/',
      status_code: 428,
      duration_ms: 13,
      link_id: 'link-3',
      external_id: 'user-3',
      institution: 'bank_a',
      source: 'api',
      customer_id: 'cust_1',
      error_code: 'token_required',
      error_message: 'm',
      error_origin: 'institution',
      response_body: '{"code":"token_required","request_id":"req-3"}',
    });
    const [ok] = await p.rows<{ response_body: string }>(`SELECT response_body FROM ${db}.request_logs WHERE request_id = 'req-0'`);
    expect(ok!.response_body).toBe('');
    const [c] = num(await p.rows(`SELECT count() AS n, uniqExact(request_id) AS u, countIf(response_body LIKE '%secret%') AS leaked FROM ${db}.request_logs`));
    expect(c).toEqual({ n: 600, u: 600, leaked: 0 });
  });

  it('keeps request_stats_1m equal to the raw logs, per minute and dimension', async () => {
    const dims = 'institution, customer_id, endpoint, method, status_code, error_code, error_origin, source';
    const raw = await rawPerMinute(dims);
    const rollup = await perMinute('request_stats_1m', dims);
    expect(rollup.length).toBeGreaterThan(30);
    expect(rollup).toEqual(raw);
    const [q] = await p.rows<{ p: number[] }>(`SELECT quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_quantiles) AS p FROM ${db}.request_stats_1m`);
    expect(q!.p[0]).toBeGreaterThan(25);
    expect(q!.p[0]).toBeLessThan(45);
  });

  it('keeps request_status_1m equal to the raw logs, per minute, institution, customer and response', async () => {
    const dims = 'institution, customer_id, status_code, error_code, error_origin';
    const raw = await rawPerMinute(dims);
    const rollup = await perMinute('request_status_1m', dims);
    expect(rollup.length).toBeGreaterThan(30);
    expect(rollup).toEqual(raw);
    // the same counts as the wide rollup, which it stands in for
    const wide = await perMinute('request_stats_1m', dims);
    expect(rollup).toEqual(wide);
  });

  it('keeps request_errors_1m equal to the raw logs, per minute, institution and customer, with errors', async () => {
    const dims = 'institution, customer_id';
    const raw = num(await p.rows(`SELECT toStartOfMinute(timestamp) AS minute, ${dims}, count() AS n, countIf(status_code >= 400) AS e FROM ${db}.request_logs GROUP BY minute, ${dims} ORDER BY ALL`));
    const rollup = num(await p.rows(`SELECT minute, ${dims}, sum(requests) AS n, sum(errors) AS e FROM ${db}.request_errors_1m GROUP BY minute, ${dims} ORDER BY ALL`));
    expect(rollup.length).toBeGreaterThan(30);
    expect(rollup.some((r) => (r as { e: number }).e > 0)).toBe(true);
    expect(rollup).toEqual(raw);
  });

  it('keeps request_errors_5m (fed by request_errors_1m) equal to the raw logs, per 5 minutes, institution and customer', async () => {
    const dims = 'institution, customer_id';
    const raw = num(await p.rows(`SELECT toStartOfFiveMinutes(timestamp) AS bucket, ${dims}, count() AS n, countIf(status_code >= 400) AS e FROM ${db}.request_logs GROUP BY bucket, ${dims} ORDER BY ALL`));
    const rollup = num(await p.rows(`SELECT bucket, ${dims}, sum(requests) AS n, sum(errors) AS e FROM ${db}.request_errors_5m GROUP BY bucket, ${dims} ORDER BY ALL`));
    expect(rollup.length).toBeGreaterThan(6); // two buckets x three institutions x two customers, at least
    expect(rollup.some((r) => (r as { e: number }).e > 0)).toBe(true);
    expect(rollup).toEqual(raw);
  });

  it("answers Insights' error rate per institution as the raw logs do, at any interval and for ranges that cut 5-minute buckets", async () => {
    const insights = committedDashboards().find((b) => b.uid === 'insights')!;
    const variables = boardVariables(insights);
    const rawSql = panelByTitle(insights, 'Error rate per institution').targets![0]!.rawSql;
    await p.clickhouse.command({ query: `USE ${db}` });
    let compared = 0;
    // the logs span 10:00:00-10:09:58; ranges start and end inside minutes and inside 5-minute buckets
    for (const [fromS, toS] of [[0, 600], [150, 600], [61, 479], [299, 301], [301, 599], [-300, 900]] as const) {
      for (const intervalS of [60, 120, 300, 600, 900]) {
        const fromMs = t0 + fromS * 1000 + 17;
        const toMs = t0 + toS * 1000 + 17;
        const panel = await p.rows(expandQuery(rawSql, { fromMs, toMs, intervalMs: intervalS * 1000, variables }));
        // the panel's filter is on whole minutes: those starting inside [from, to] (seconds)
        const minute = 'toStartOfMinute(timestamp)';
        const raw = await p.rows(
          `SELECT toStartOfInterval(toDateTime(${minute}), INTERVAL ${intervalS} second) AS time, institution, countIf(status_code >= 400) / count() AS error_rate
           FROM ${db}.request_logs
           WHERE ${minute} >= toDateTime(${Math.floor(fromMs / 1000)}) AND ${minute} <= toDateTime(${Math.floor(toMs / 1000)}) AND institution != ''
           GROUP BY time, institution ORDER BY time, institution`,
        );
        expect(panel, `from +${fromS} s, to +${toS} s, interval ${intervalS} s`).toEqual(raw);
        compared += panel.length;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('keeps link_activity equal to the raw logs per link', async () => {
    const raw = num(await p.rows(`SELECT link_id, count() AS n, countIf(status_code >= 400) AS e, toString(max(timestamp)) AS last FROM ${db}.request_logs GROUP BY link_id ORDER BY link_id`));
    const rollup = num(await p.rows(`SELECT link_id, sum(requests) AS n, sum(errors) AS e, toString(max(last_request_at)) AS last FROM ${db}.link_activity GROUP BY link_id ORDER BY link_id`));
    expect(rollup).toEqual(raw);
  });

  it('keeps link_activity_lookup (fed by link_activity) equal to the raw logs per link and month', async () => {
    const raw = num(await p.rows(`SELECT toStartOfMonth(timestamp) AS month, link_id, count() AS n, countIf(status_code >= 400) AS e, toString(max(timestamp)) AS last FROM ${db}.request_logs WHERE link_id != '' GROUP BY month, link_id ORDER BY ALL`));
    const rollup = num(await p.rows(`SELECT month, link_id, sum(requests) AS n, sum(errors) AS e, toString(max(last_request_at)) AS last FROM ${db}.link_activity_lookup GROUP BY month, link_id ORDER BY ALL`));
    expect(rollup.length).toBeGreaterThan(3);
    expect(rollup.some((r) => (r as { e: number }).e > 0)).toBe(true);
    expect(rollup).toEqual(raw);
    // link_activity_monthly, a view over it since sql/018, answers the same
    expect(num(await p.rows(`SELECT month, link_id, sum(requests) AS n, sum(errors) AS e, toString(max(last_request_at)) AS last FROM ${db}.link_activity_monthly GROUP BY month, link_id ORDER BY ALL`))).toEqual(raw);
  });

  it('stores webhook attempts and keeps webhook_stats_1m equal to them', async () => {
    const [a] = await p.rows(`SELECT webhook_id, attempt, status_code, error, payload FROM ${db}.webhook_attempts WHERE webhook_id = 'wh-0' AND attempt = 1`);
    expect(a).toEqual({ webhook_id: 'wh-0', attempt: 1, status_code: null, error: 'timeout', payload: '{"webhook_id":"wh-0","data":{"n":0}}' });
    const raw = num(await p.rows(`SELECT event, type, multiIf(status_code IS NULL, 'no_response', status_code BETWEEN 200 AND 299, 'delivered', 'failed') AS outcome, count() AS n FROM ${db}.webhook_attempts GROUP BY ALL ORDER BY ALL`));
    const rollup = num(await p.rows(`SELECT event, type, outcome, sum(attempts) AS n FROM ${db}.webhook_stats_1m GROUP BY ALL ORDER BY ALL`));
    expect(rollup).toEqual(raw);
    expect(raw.find((r) => r.outcome === 'no_response')!.n).toBe(5);
  });

  it('keeps every link state and reads the newest updated_at as the latest', async () => {
    const history = await p.rows<{ status: string }>(`SELECT status FROM ${db}.links WHERE link_id = 'link-0' ORDER BY updated_at`);
    expect(history.map((h) => h.status)).toEqual(['valid', 'token_required', 'valid', 'invalid']);
    const [latest] = await p.rows(`SELECT status, access_mode, external_id FROM ${db}.links_latest FINAL WHERE link_id = 'link-0'`);
    expect(latest).toEqual({ status: 'invalid', access_mode: 'recurrent', external_id: 'user-0' });
  });

  it('coalesced the batches into fewer inserts than jobs', () => {
    const s = p.worker.batchWriter.stats;
    expect(s.jobsWritten).toBe(8);
    expect(s.flushes).toBeLessThan(s.jobsWritten);
  });
});
