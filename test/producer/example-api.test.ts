import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { createOpenFinanceApi } from '../../examples/open-finance-api.js';
import { freePort } from '../../scripts/local-redis.js';

// The example API instrumented with the producer plugins, driven over HTTP; what it recorded is
// read back from ClickHouse after going through the real ingest API, queue and worker.
let p: TestPipeline;
let api: ReturnType<typeof createOpenFinanceApi>;
let apiServer: Server;
let receiver: Server;
let apiUrl: string;
const seenWebhooks = new Map<string, number>();

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

beforeAll(async () => {
  p = await startTestPipeline();
  // The customer's webhook endpoint: the first try of each webhook fails with 500, the next succeeds.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const id = (JSON.parse(body) as { webhook_id: string }).webhook_id;
      const n = (seenWebhooks.get(id) ?? 0) + 1;
      seenWebhooks.set(id, n);
      res.writeHead(n === 1 ? 500 : 200).end();
    });
  });
  const receiverUrl = await listen(receiver);
  const closedPort = await freePort();
  api = createOpenFinanceApi({
    ingest: { url: p.baseUrl, apiKey: p.apiKey, flushIntervalMs: 50 },
    customers: {
      'secret-acme': { id: 'acme_lending', webhookUrl: `${receiverUrl}/hooks/acme` },
      'secret-globex': { id: 'globex', webhookUrl: `http://127.0.0.1:${closedPort}/hooks` },
    },
    mfaInstitutions: ['erebor_mx_retail'],
    webhookRetryDelaysMs: [10, 10],
  });
  apiServer = api.app.listen(0, '127.0.0.1');
  await new Promise((r) => apiServer.once('listening', r));
  apiUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  apiServer?.close();
  receiver?.close();
  await api?.close();
  await p?.close();
});

interface Call {
  status: number;
  requestId: string;
  body: unknown;
}
async function call(method: string, path: string, o: { body?: unknown; secret?: string | null; requestId?: string } = {}): Promise<Call> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (o.secret !== null) headers.Authorization = `Bearer ${o.secret ?? 'secret-acme'}`;
  if (o.requestId) headers['X-Request-Id'] = o.requestId;
  const res = await fetch(`${apiUrl}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  return { status: res.status, requestId: res.headers.get('x-request-id') ?? '', body: text ? JSON.parse(text) : undefined };
}

interface LogRow {
  request_id: string;
  method: string;
  endpoint: string;
  status_code: number;
  duration_ms: number;
  link_id: string;
  external_id: string;
  institution: string;
  customer_id: string;
  error_code: string;
  error_message: string;
  error_origin: string;
  response_body: string;
}

describe('example API -> producer plugins -> ingest -> ClickHouse', () => {
  const calls: Record<string, Call> = {};
  let anaLink = '';
  let brunoLink = '';
  let globexLink = '';
  let logs: Map<string, LogRow>;

  beforeAll(async () => {
    calls.createAna = await call('POST', '/api/links/', { body: { institution: 'gringotts_br_retail', username: 'ana', password: 'x', external_id: 'user-ana' } });
    anaLink = (calls.createAna.body as { id: string }).id;
    calls.getAna = await call('GET', `/api/links/${anaLink}/`, { requestId: 'caller-req-0001' });
    calls.txAna = await call('POST', '/api/transactions/', { body: { link: anaLink, date_from: '2026-01-01', date_to: '2026-01-31' } });
    calls.badDates = await call('POST', '/api/transactions/', { body: { link: anaLink, date_from: '2026-02-01', date_to: '2026-01-01' } });
    calls.createBruno = await call('POST', '/api/links/', { body: { institution: 'erebor_mx_retail', username: 'bruno', password: 'x', external_id: 'user-bruno' } });
    brunoLink = (calls.createBruno.body as { id: string }).id;
    calls.txBrunoToken = await call('POST', '/api/transactions/', { body: { link: brunoLink, date_from: '2026-01-01', date_to: '2026-01-31' } });
    calls.patchBruno = await call('PATCH', `/api/links/${brunoLink}/`, { body: { token: '123456' } });
    calls.txBruno = await call('POST', '/api/transactions/', { body: { link: brunoLink, date_from: '2026-01-01', date_to: '2026-01-31' } });
    calls.owner = await call('GET', '/api/owners/42/');
    calls.noAuth = await call('GET', `/api/links/${anaLink}/`, { secret: null });
    calls.unknownPath = await call('GET', `/api/nothing/${anaLink}/here`);
    calls.health = await call('GET', '/healthz');
    calls.createGlobex = await call('POST', '/api/links/', { secret: 'secret-globex', body: { institution: 'banco_azul_co', username: 'dario', password: 'x', access_mode: 'single' } });
    globexLink = (calls.createGlobex.body as { id: string }).id;
    calls.txGlobex = await call('POST', '/api/transactions/', { secret: 'secret-globex', body: { link: globexLink, date_from: '2026-01-01', date_to: '2026-01-31' } });

    await api.webhooksIdle();
    await api.producer.shipper.flush();
    await p.waitForIdle();
    const rows = await p.rows<LogRow>(`SELECT * FROM ${p.database}.request_logs`);
    logs = new Map(rows.map((r) => [r.request_id, { ...r, status_code: Number(r.status_code), duration_ms: Number(r.duration_ms) }]));
  });

  it('the API answered as designed (the middleware changed nothing)', () => {
    expect(Object.fromEntries(Object.entries(calls).map(([k, c]) => [k, c.status]))).toEqual({
      createAna: 201, getAna: 200, txAna: 201, badDates: 400, createBruno: 201, txBrunoToken: 428, patchBruno: 200,
      txBruno: 201, owner: 500, noAuth: 401, unknownPath: 404, health: 200, createGlobex: 201, txGlobex: 201,
    });
    expect(calls.txAna!.body).toEqual([expect.objectContaining({ description: 'PAYROLL ACME' })]);
    expect(calls.getAna!.requestId).toBe('caller-req-0001');
    // Every observed call carries a request id; the skipped health check is left untouched.
    for (const [k, c] of Object.entries(calls)) expect(c.requestId, k).toMatch(k === 'health' ? /^$/ : /^[0-9a-f]{32}$|^caller-req-0001$/);
  });

  it('records every call but the skipped health check, under the request id the caller saw', () => {
    const recorded = Object.entries(calls).filter(([k]) => k !== 'health');
    expect(logs.size).toBe(recorded.length);
    for (const [, c] of recorded) expect(logs.has(c.requestId), c.requestId).toBe(true);
    expect(logs.has(calls.health!.requestId)).toBe(false);
  });

  it('stores the route template, never the raw URL with ids in it', () => {
    const endpoint = (k: string) => logs.get(calls[k]!.requestId)!.endpoint;
    expect(endpoint('getAna')).toBe('/api/links/:link_id/');
    expect(endpoint('patchBruno')).toBe('/api/links/:link_id/');
    expect(endpoint('txAna')).toBe('/api/transactions/');
    expect(endpoint('owner')).toBe('/api/owners/:owner_id/'); // the error left the router: still the template
    expect(endpoint('noAuth')).toBe('/api/links/:link_id/');
    expect(endpoint('unknownPath')).toBe('(unmatched)');
    for (const row of logs.values()) {
      expect(row.endpoint).not.toContain(anaLink);
      expect(row.endpoint).not.toContain(brunoLink);
    }
  });

  it('stores method, status, duration and the extracted link, institution, external id and customer', () => {
    expect(logs.get(calls.getAna!.requestId)).toMatchObject({
      method: 'GET', status_code: 200, link_id: anaLink, institution: 'gringotts_br_retail', external_id: 'user-ana', customer_id: 'acme_lending',
    });
    expect(logs.get(calls.patchBruno!.requestId)).toMatchObject({ method: 'PATCH', link_id: brunoLink, institution: 'erebor_mx_retail' });
    expect(logs.get(calls.createGlobex!.requestId)).toMatchObject({ method: 'POST', status_code: 201, link_id: globexLink, customer_id: 'globex', external_id: '' });
    expect(logs.get(calls.noAuth!.requestId)).toMatchObject({ status_code: 401, customer_id: '', link_id: '' });
    for (const row of logs.values()) expect(row.duration_ms).toBeGreaterThan(0);
  });

  it('keeps the error body for errors only, with its code, and the stage classifies the origin', () => {
    for (const row of logs.values()) {
      if (row.status_code < 400) expect(row.response_body, row.endpoint).toBe('');
      else expect(row.response_body, row.endpoint).not.toBe('');
    }
    const token = logs.get(calls.txBrunoToken!.requestId)!;
    expect(token).toMatchObject({ status_code: 428, error_code: 'token_required', error_message: 'A MFA token is required by the institution to login', error_origin: 'institution' });
    expect(JSON.parse(token.response_body)).toEqual([{ code: 'token_required', message: 'A MFA token is required by the institution to login', request_id: calls.txBrunoToken!.requestId }]);
    expect(logs.get(calls.owner!.requestId)).toMatchObject({ status_code: 500, error_code: 'unexpected_error', error_origin: 'internal' });
    expect(logs.get(calls.badDates!.requestId)).toMatchObject({ status_code: 400, error_code: 'request_error', error_origin: 'internal' });
  });

  it('records each webhook try: a 500 then a 200, and tries that got no response', async () => {
    const rows = await p.rows<{ link_id: string; event: string; type: string; attempt: number; status_code: number | null; error: string; url: string; payload: string; duration_ms: number; customer_id: string }>(
      `SELECT link_id, event, type, attempt, status_code, error, url, payload, duration_ms, customer_id FROM ${p.database}.webhook_attempts ORDER BY link_id, event, attempt`,
    );
    const of = (link: string, event: string) => rows.filter((r) => r.link_id === link && r.event === event).map((r) => [Number(r.attempt), r.status_code === null ? null : Number(r.status_code), r.error]);
    expect(of(anaLink, 'new_transactions_available')).toEqual([[1, 500, ''], [2, 200, '']]);
    expect(of(brunoLink, 'token_required')).toEqual([[1, 500, ''], [2, 200, '']]);
    expect(of(brunoLink, 'new_transactions_available')).toEqual([[1, 500, ''], [2, 200, '']]);
    expect(of(globexLink, 'new_transactions_available')).toEqual([[1, null, 'connection refused'], [2, null, 'connection refused'], [3, null, 'connection refused']]);
    const first = rows.find((r) => r.link_id === anaLink)!;
    expect(first).toMatchObject({ type: 'TRANSACTIONS', customer_id: '' });
    expect(first.url).toMatch(/\/hooks\/acme$/);
    expect(JSON.parse(first.payload)).toMatchObject({ link_id: anaLink, webhook_code: 'new_transactions_available', external_id: 'user-ana' });
  });

  it('records link states: Bruno went valid -> token_required -> valid', async () => {
    const rows = await p.rows<{ status: string }>(`SELECT status FROM ${p.database}.links WHERE link_id = '${brunoLink}' ORDER BY updated_at, ingested_at`);
    expect(rows.map((r) => r.status)).toEqual(['valid', 'token_required', 'valid']);
  });

  it('lost nothing and dropped nothing on the way', () => {
    expect(api.producer.shipper.stats()).toMatchObject({ buffered: 0, dropped: 0, failed: 0, rejected: 0 });
  });
});
