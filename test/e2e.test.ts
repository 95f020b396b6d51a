import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline();
});
afterAll(async () => {
  await p?.close();
});

describe('end to end', () => {
  it('writes posted request logs to the raw table and the rollups', async () => {
    const t0 = Date.parse('2026-11-20T10:00:00.000Z');
    const logs = Array.from({ length: 50 }, (_, i) => ({
      request_id: `req-${i}`,
      timestamp: new Date(t0 + i * 1000).toISOString(),
      method: i % 2 ? 'GET' : 'POST',
      endpoint: '/api/transactions/',
      status_code: i % 10 === 0 ? 428 : 200,
      duration_ms: 10 + i,
      link_id: `link-${i % 5}`,
      institution: 'bank_a',
      customer_id: 'cust_1',
      ...(i % 10 === 0
        ? { error: { code: 'token_required', message: 'A MFA token is required' }, response_body: { code: 'token_required' } }
        : { response_body: { secret: 'balance' } }),
    }));
    const res = await p.post('logs', logs);
    expect(res.status).toBe(202);
    await p.waitForIdle();
    const raw = await p.rows<{ n: string; errors: string; bodies: string }>(
      `SELECT count() n, countIf(status_code >= 400) errors, countIf(response_body != '') bodies FROM ${p.database}.request_logs`,
    );
    expect(raw.map((r) => [Number(r.n), Number(r.errors), Number(r.bodies)])).toEqual([[50, 5, 5]]);
    const rollup = await p.rows<{ n: string }>(`SELECT sum(requests) n FROM ${p.database}.request_stats_1m`);
    expect(Number(rollup[0]!.n)).toBe(50);
  });
});
