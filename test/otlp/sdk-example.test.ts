import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { boardVariables, committedDashboards, panelByTitle } from '../dashboards/dashboard-json.js';
import { expandQuery } from '../dashboards/grafana-expander.js';

// The real OpenTelemetry JS SDK as the producer: examples/otel-finance-api.ts, instrumented with the
// HTTP and Express instrumentations by examples/otel-instrumentation.ts, in its own process (the
// instrumentations patch express process-wide: in this process they would trace our ingest too).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline();
});
afterAll(async () => {
  await p?.close();
});

async function startExample(protocol: 'http/protobuf' | 'http/json', service: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './examples/otel-instrumentation.ts', 'examples/otel-finance-api.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_ENDPOINT: `${p.baseUrl}/otlp`,
      OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${p.apiKey}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      ...(protocol === 'http/protobuf' ? { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`example exited with ${code}: ${out}`)));
  });
  return { child, url };
}

/** SIGTERM: the example flushes its span and log processors, then exits. */
async function stopExample(child: ChildProcess) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function exercise(url: string) {
  expect((await fetch(`${url}/api/links/link-ok/accounts?page=2`)).status).toBe(200);
  expect((await fetch(`${url}/api/links/link-mfa/accounts`)).status).toBe(428);
  expect((await fetch(`${url}/api/owners/own-1`)).status).toBe(500);
  expect((await fetch(`${url}/api/links/link-ok/transactions`, { method: 'POST' })).status).toBe(201);
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
}

type Row = Record<string, unknown>;
describe.each([
  ['http/protobuf', 'finance-api-proto'],
  ['http/json', 'finance-api-json'],
] as const)('the OpenTelemetry SDK exporting %s', (protocol, service) => {
  let rows: Row[];
  beforeAll(async () => {
    const { child, url } = await startExample(protocol, service);
    await exercise(url);
    await stopExample(child);
    await p.waitForIdle();
    rows = await p.rows(
      `SELECT request_id, method, endpoint, status_code, duration_ms, link_id, external_id, institution, customer_id, source, error_code, error_message, response_body
       FROM ${p.database}.request_logs WHERE source = '${service}' ORDER BY endpoint, status_code`,
    );
  }, 60_000);

  it('lands each SERVER span as one request_logs row, by route template, never the raw path', () => {
    expect(rows.map((r) => [r.method, r.endpoint, r.status_code])).toEqual([
      ['GET', '/api/links/:link_id/accounts', 200],
      ['GET', '/api/links/:link_id/accounts', 428],
      ['POST', '/api/links/:link_id/transactions', 201],
      ['GET', '/api/owners/:owner_id', 500],
    ]);
    for (const r of rows) {
      expect(r.request_id).toMatch(/^[0-9a-f]{16}$/); // the span id
      expect(Number(r.duration_ms)).toBeGreaterThan(0);
      expect(r.response_body).toBe('');
    }
  });

  it('reads the link, institution and customer set on the server span, and errors from the status code', () => {
    const [ok, mfa] = rows;
    expect(ok).toMatchObject({ link_id: 'link-ok', external_id: 'user-7', institution: 'gringotts_br_retail', customer_id: 'acme_lending', error_code: '', error_message: '' });
    expect(mfa).toMatchObject({ link_id: 'link-mfa', institution: 'erebor_mx_retail', error_code: 'token_required', error_message: 'A MFA token is required by the institution to login' });
    expect(rows[3]).toMatchObject({ error_code: 'unexpected_error', error_message: 'An unexpected error occurred on our side' });
  });

  it("appears in the Logs dashboard's Requests panel, filtered by its source, with the error body built from the span's error", async () => {
    const logs = committedDashboards().find((b) => b.uid === 'logs')!;
    const rawSql = panelByTitle(logs, 'Requests').targets![0]!.rawSql;
    await p.clickhouse.command({ query: `USE ${p.database}` });
    const now = Date.now();
    const panel = await p.rows<{ request_id: string; endpoint: string; error_body: string }>(
      expandQuery(rawSql, { fromMs: now - 3_600_000, toMs: now + 60_000, intervalMs: 60_000, variables: boardVariables(logs, { source: [service] }) }),
    );
    expect(panel.map((r) => r.request_id).sort()).toEqual(rows.map((r) => r.request_id).sort());
    const mfa = panel.find((r) => r.request_id === rows[1]!.request_id)!;
    expect(JSON.parse(mfa.error_body)).toEqual({ code: 'token_required', message: 'A MFA token is required by the institution to login', request_id: mfa.request_id });
  });

  it('lands the webhook log records as webhook_attempts rows', async () => {
    // both runs send the same webhook id and link; each run adds exactly its two attempts
    const attempts = await p.rows(
      `SELECT webhook_id, event, type, link_id, attempt, url, status_code, error, customer_id, payload FROM ${p.database}.webhook_attempts
       WHERE webhook_id = 'wh-link-ok' ORDER BY attempt, ingested_at LIMIT 1 BY attempt`,
    );
    const common = { webhook_id: 'wh-link-ok', event: 'new_transactions_available', type: 'TRANSACTIONS', link_id: 'link-ok', url: 'https://hooks.example/acme', customer_id: 'acme_lending', payload: '{"link_id":"link-ok","webhook_code":"new_transactions_available"}' };
    expect(attempts).toEqual([
      { ...common, attempt: 1, status_code: null, error: 'timeout' },
      { ...common, attempt: 2, status_code: 200, error: '' },
    ]);
    const [counted] = await p.rows<{ n: string }>(`SELECT count() AS n FROM ${p.database}.webhook_attempts WHERE webhook_id = 'wh-link-ok'`);
    expect(Number(counted?.n)).toBe(protocol === 'http/protobuf' ? 2 : 4);
  });
});
