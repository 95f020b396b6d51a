import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { connect } from 'node:net';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { rng } from '../demo/traffic.js';
import { jsonLimits } from '../schema/records.js';

let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline();
});
afterAll(async () => {
  await p?.close();
});

const goodLog = (id: string) => ({
  request_id: id,
  timestamp: '2026-11-20T10:00:00Z',
  method: 'POST',
  endpoint: '/api/transactions/',
  status_code: 500,
  institution: 'bank_a',
  error: { code: 'unexpected_error', message: 'boom' },
  response_body: { code: 'unexpected_error', request_id: id },
});

async function send(path: string, body: string | Buffer, headers: Record<string, string>, method = 'POST') {
  const payload = typeof body === 'string' ? body : new Uint8Array(body);
  const res = await fetch(`${p.baseUrl}${path}`, { method, headers, body: method === 'GET' ? undefined : payload });
  const text = await res.text();
  return { status: res.status, text, requestId: res.headers.get('x-request-id') };
}
const auth = (extra: Record<string, string> = {}) => ({ Authorization: `Bearer ${p.apiKey}`, 'Content-Type': 'application/json', ...extra });

describe('bad input gets a clear 4xx and never touches good data', () => {
  it('rejects over-deep and over-large error bodies and payloads, and keeps the valid records beside them', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < jsonLimits.maxDepth + 2; i++) deep = { d: deep };
    const r = await send(
      '/v1/logs',
      JSON.stringify([
        goodLog('beside-1'),
        { ...goodLog('deep'), response_body: deep },
        { ...goodLog('huge'), response_body: 'x'.repeat(jsonLimits.responseBodyBytes + 1) },
        { ...goodLog('ok-200'), status_code: 200, response_body: deep }, // a success body is dropped unread
        { ...goodLog('old'), timestamp: '1999-12-31T23:59:59Z' },
        { ...goodLog('future'), timestamp: new Date(Date.now() + 3 * 86_400_000).toISOString() },
        { ...goodLog('long'), endpoint: 'e'.repeat(513) },
      ]),
      auth(),
    );
    expect(r.status).toBe(207);
    const body = JSON.parse(r.text) as { accepted: number; rejected: { index: number; errors: { path: string; message: string }[] }[] };
    expect(body.accepted).toBe(2);
    expect(body.rejected.map((x) => [x.index, x.errors[0]!.path])).toEqual([
      [1, 'response_body'],
      [2, 'response_body'],
      [4, 'timestamp'],
      [5, 'timestamp'],
      [6, 'endpoint'],
    ]);
    expect(body.rejected[0]!.errors[0]!.message).toMatch(/deeper than 16/);
    const big = { webhook_id: 'w', event: 'e', type: 'T', link_id: 'l', attempt: 1, url: 'u', status_code: 200, timestamp: Date.now() };
    const w = await send('/v1/webhook-attempts', JSON.stringify([{ ...big, payload: { blob: 'y'.repeat(jsonLimits.payloadBytes) } }]), auth());
    expect(w.status).toBe(400);
    expect(JSON.parse(w.text).rejected[0].errors[0].path).toBe('payload');
  });

  it('answers oversized headers with 431 in the common error shape', async () => {
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${p.baseUrl}/v1/logs`, { method: 'POST', headers: { ...auth(), 'X-Junk': 'j'.repeat(20_000) } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end('[]');
    });
    expect(status.status).toBe(431);
    expect(JSON.parse(status.body)).toMatchObject({ code: 'validation_error', request_id: expect.any(String) });
  });

  it('answers a malformed request line with 400 in the common error shape', async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = connect(Number(new URL(p.baseUrl).port), '127.0.0.1', () => s.write('BLAH / HTTP/9\r\n\r\n'));
      let out = '';
      s.on('data', (c) => (out += c));
      s.on('close', () => resolve(out));
    });
    expect(raw).toMatch(/^HTTP\/1.1 400/);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'validation_error' });
  });

  it('survives a fuzz run: never a 5xx, and good data posted alongside lands intact', async () => {
    const r = rng(20261126);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
    const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
    const mutate = (rec: Record<string, unknown>): unknown => {
      const keys = Object.keys(rec);
      const k = pick(keys);
      const copy: Record<string, unknown> = { ...rec };
      switch (Math.floor(r() * 10)) {
        case 0: delete copy[k]; break;
        case 1: copy[k] = pick([null, true, -1, 1e308, '', [], {}, 'x'.repeat(5000), '\u0000\uffff', '😀'.repeat(300)]); break;
        case 2: copy['__proto__'] = { polluted: true }; copy['constructor'] = 'x'; break;
        case 3: copy[`extra_${Math.floor(r() * 1e6)}`] = junk(8).toString('latin1'); break;
        case 4: copy.timestamp = pick(['2026-13-45T99:99:99Z', 'yesterday', -5, 1e20, '2026-11-20T10:00:00']); break;
        case 5: copy.status_code = pick([99, 600, 200.5, '200', NaN]); break;
        case 6: return pick([null, 42, 'str', [rec], [[rec]]]);
        case 7: copy.response_body = JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)); break;
        default: copy.method = pick(['get', 'TRACE', '', 'POST ']);
      }
      return copy;
    };
    const bodies = (): { body: string | Buffer; type: string } => {
      const base = goodLog(`f-${Math.floor(r() * 1e9)}`);
      switch (Math.floor(r() * 8)) {
        case 0: return { body: junk(Math.floor(r() * 400)), type: pick(['application/json', 'application/x-ndjson', 'text/plain', '']) };
        case 1: return { body: JSON.stringify([base]).slice(0, Math.floor(r() * 80)), type: 'application/json' };
        case 2: return { body: Array.from({ length: 5 }, () => JSON.stringify(mutate(base))).join('\n'), type: 'application/x-ndjson' };
        case 3: return { body: JSON.stringify({ records: [base] }), type: 'application/json' };
        case 4: return { body: JSON.stringify([base]), type: pick(['application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'APPLICATION/JSON']) };
        default: return { body: JSON.stringify(Array.from({ length: 1 + Math.floor(r() * 6) }, () => mutate(base))), type: 'application/json' };
      }
    };
    const paths = ['/v1/logs', '/v1/webhook-attempts', '/v1/links', '/v1/logs/', '/v1//logs', '/v1/LOGS', '/healthz', '/../etc/passwd', '/v1/logs?x=%ff'];
    const statuses = new Map<number, number>();
    let sent = 0;
    const deadline = Date.now() + 20_000;
    const goodIds: string[] = [];
    const worker = async () => {
      while (sent < 3000 && Date.now() < deadline) {
        const n = sent++;
        if (n % 100 === 0) {
          const id = `good-${n}`;
          goodIds.push(id);
          const g = await send('/v1/logs', JSON.stringify([goodLog(id)]), auth());
          expect(g.status).toBe(202);
          continue;
        }
        const { body, type } = bodies();
        const headers: Record<string, string> = {};
        if (r() < 0.9) headers.Authorization = r() < 0.95 ? `Bearer ${p.apiKey}` : pick(['Bearer', 'Bearer  ', `bearer ${p.apiKey}x`, 'Basic Zm9v']);
        if (type) headers['Content-Type'] = type;
        if (r() < 0.1) headers['Idempotency-Key'] = pick(['', 'k'.repeat(300), `key-${n % 7}`, '\u00e9']);
        if (r() < 0.1) headers['X-Request-Id'] = pick(['../../x', 'a b', 'r'.repeat(200), 'ok-id']);
        const res = await send(pick(paths), body, headers, r() < 0.05 ? pick(['GET', 'PUT', 'DELETE', 'PATCH']) : 'POST').catch(() => ({ status: -1, text: '', requestId: null }));
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 400) {
          const err = JSON.parse(res.text) as Record<string, unknown>;
          expect(Object.keys(err).slice(0, 3)).toEqual(['code', 'message', 'request_id']);
          expect(err.request_id).toBe(res.requestId);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    console.log(`fuzz: ${sent} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    expect([...statuses.keys()].filter((s) => s >= 500 || s < 0)).toEqual([]);
    expect(sent).toBeGreaterThan(500);

    await p.waitForIdle();
    const rows = await p.rows<{ request_id: string; n: number; body: string; code: string }>(
      `SELECT request_id, count() AS n, any(response_body) AS body, any(error_code) AS code FROM ${p.database}.request_logs
       WHERE request_id LIKE 'good-%' GROUP BY request_id ORDER BY request_id`,
    );
    expect(rows.map((x) => x.request_id)).toEqual([...goodIds].sort());
    for (const row of rows) {
      expect(Number(row.n)).toBe(1);
      expect(JSON.parse(row.body)).toEqual({ code: 'unexpected_error', request_id: row.request_id });
      expect(row.code).toBe('unexpected_error');
    }
    expect((await fetch(`${p.baseUrl}/healthz`)).status).toBe(200);
  }, 60_000);
});
