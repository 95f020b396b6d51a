import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { ProtobufLogsSerializer, ProtobufTraceSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { messages } from '../../ingest/otlp/proto.js';
import { sdkSpans, serverSpan } from './sdk-spans.js';

// The OTLP/HTTP contract (opentelemetry-proto docs/specification.md, "OTLP/HTTP"): encodings,
// responses, partial success, limits, bad data; rows checked in the embedded engine.
let p: TestPipeline;
let db: string;
beforeAll(async () => {
  p = await startTestPipeline({ ADMIN_TOKEN: 'admin-secret', MAX_BODY_BYTES: String(1024 * 1024) });
  db = p.database;
});
afterAll(async () => {
  await p?.close();
});

const post = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
  fetch(`${p.baseUrl}/otlp${path}`, { method: 'POST', headers: { Authorization: `Bearer ${p.apiKey}`, ...headers }, body: typeof body === 'string' ? body : Buffer.from(body) });
const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  post(path, JSON.stringify(body), { 'Content-Type': 'application/json', ...headers });
const metrics = async () => (await fetch(`${p.ingestAdminUrl}/metrics`, { headers: { Authorization: 'Bearer admin-secret' } })).text();
const metric = (text: string, line: string) => Number(new RegExp(`^${line.replace(/[{}"|.]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
const count = async (table: string, where: string) => Number((await p.rows<{ n: string }>(`SELECT count() AS n FROM ${db}.${table} WHERE ${where}`))[0]?.n);

const now = Date.now();
const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;

describe('OTLP JSON', () => {
  it('reads hex ids (any case), integer enums, 64-bit integers as strings or numbers, and ignores unknown fields', async () => {
    const spanId = randomBytes(8).toString('hex').toUpperCase();
    const res = await postJson('/v1/traces', {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-hex' } }], newResourceField: true },
          scopeSpans: [
            {
              scope: { name: 'manual' },
              spans: [
                {
                  traceId: '5B8EFFF798038103D269B633813FC60C',
                  spanId,
                  name: 'GET /api/accounts/',
                  kind: 2,
                  startTimeUnixNano: ns(now - 60_000),
                  endTimeUnixNano: Number(BigInt(ns(now - 60_000)) + 25_000_000n), // a number, not a string
                  attributes: [
                    { key: 'http.request.method', value: { stringValue: 'GET' } },
                    { key: 'http.route', value: { stringValue: '/api/accounts/' } },
                    { key: 'http.response.status_code', value: { intValue: '200' } },
                    { key: 'link.id', value: { stringValue: 'link-json' } },
                  ],
                  someFutureField: { x: 1 },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({}); // full success: partial_success unset
    await p.waitForIdle();
    const rows = await p.rows(`SELECT request_id, timestamp, endpoint, status_code, duration_ms, link_id, source FROM ${db}.request_logs WHERE source = 'json-hex'`);
    expect(rows).toEqual([
      {
        request_id: spanId.toLowerCase(),
        timestamp: new Date(now - 60_000).toISOString().replace('T', ' ').replace('Z', ''),
        endpoint: '/api/accounts/',
        status_code: 200,
        duration_ms: 25,
        link_id: 'link-json',
        source: 'json-hex',
      },
    ]);
  });

  it('refuses base64 ids with 400 and a google.rpc.Status naming the field', async () => {
    const res = await postJson('/v1/traces', {
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'W47/95gDgQPSabYzgT/GDA==', spanId: 'AAAAAAAAAAA=', kind: 2 }] }] }],
    });
    expect(res.status).toBe(400);
    const status = (await res.json()) as { code: number; message: string; details: { '@type': string; requestId?: string; fieldViolations?: { field: string }[] }[] };
    expect(status.code).toBe(3); // INVALID_ARGUMENT
    expect(status.message).toMatch(/traceId must be 32 hex digits/);
    expect(status.details).toContainEqual({ '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId: res.headers.get('x-request-id') });
    expect(status.details.find((d) => d['@type'].endsWith('BadRequest'))?.fieldViolations?.[0]?.field).toBe('resourceSpans[0].scopeSpans[0].spans[0].traceId');
  });
});

describe('partial success', () => {
  it('accepts the good spans, ignores the unmappable ones and reports the invalid ones with the first problem (protobuf)', async () => {
    const tag = `partial-${randomBytes(3).toString('hex')}`;
    const spans = sdkSpans(
      [
        serverSpan('/api/links/:id', 200, now - 5_000),
        serverSpan('/api/links/:id', undefined, now - 4_000), // a SERVER span with no status code
        serverSpan('/api/links/:id', 201, Date.UTC(1999, 0, 1)), // a timestamp out of range
        { name: 'SELECT links', kind: SpanKind.CLIENT, startMs: now - 3_000, durationMs: 2, attributes: { 'db.system.name': 'postgresql' } },
        { name: 'request handler', kind: SpanKind.INTERNAL, startMs: now - 3_000, durationMs: 1 },
      ],
      tag,
    );
    const before = await metrics();
    const res = await post('/v1/traces', ProtobufTraceSerializer.serializeRequest(spans)!, { 'Content-Type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    // read with the SDK's own deserialiser
    const response = ProtobufTraceSerializer.deserializeResponse(new Uint8Array(await res.arrayBuffer()));
    expect(Number(response.partialSuccess?.rejectedSpans)).toBe(2);
    expect(response.partialSuccess?.errorMessage).toBe(
      `2 of 5 spans rejected; first: span ${spans[1]!.spanContext().spanId} 'GET /api/links/:id': status_code: Invalid input: expected number, received undefined`,
    );
    await p.waitForIdle();
    expect(await count('request_logs', `source = '${tag}'`)).toBe(1);
    const after = await metrics();
    const delta = (item: string, outcome: string) => {
      const line = `obs_ingest_otlp_items_total{signal="traces",item="${item}",outcome="${outcome}"}`;
      return metric(after, line) - metric(before, line);
    };
    expect([delta('server_span', 'mapped'), delta('server_span', 'rejected'), delta('client_span', 'ignored'), delta('internal_span', 'ignored')]).toEqual([1, 2, 1, 1]);
  });

  it('answers 200 with partial_success in JSON too, even when no span is usable', async () => {
    const spans = sdkSpans([serverSpan('/api/x', undefined, now)], 'partial-json');
    const res = await post('/v1/traces', JsonTraceSerializer.serializeRequest(spans)!, { 'Content-Type': 'application/json' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(body.partialSuccess.rejectedSpans).toBe('1');
    expect(body.partialSuccess.errorMessage).toMatch(/^1 of 1 spans rejected; first: span [0-9a-f]{16} 'GET \/api\/x': status_code: /);
  });
});

describe('the same stages as the JSON API', () => {
  it('redacts secrets in attributes and error messages before anything is queued', async () => {
    const spans = sdkSpans(
      [
        serverSpan('/api/owners/:id', 502, now - 1_000, {
          'error.type': 'institution_down',
          'error.message': 'upstream refused Bearer eyJhbGciOi.secret-token-value for card 4111 1111 1111 1111',
        }),
      ],
      'redaction',
    );
    expect((await post('/v1/traces', ProtobufTraceSerializer.serializeRequest(spans)!, { 'Content-Type': 'application/x-protobuf' })).status).toBe(200);
    await p.waitForIdle();
    const [row] = await p.rows<{ error_code: string; error_message: string }>(`SELECT error_code, error_message FROM ${db}.request_logs WHERE source = 'redaction'`);
    expect(row?.error_code).toBe('institution_down');
    expect(row?.error_message).not.toMatch(/secret-token-value|4111/);
    expect(row?.error_message).toMatch(/\[redacted:bearer\].*\[redacted:card\]/);
  });
});

describe('limits and bad data', () => {
  it('refuses a gzip bomb with 413 once the decompressed body passes the limit, without inflating it all', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const res = await post('/v1/traces', bomb, { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
    expect(res.status).toBe(413);
    const status = messages.status.toObject(messages.status.decode(new Uint8Array(await res.arrayBuffer()))) as { code: number; message: string };
    expect(status.message).toBe('the body after gzip decompression is over 1048576 bytes');
  });

  it('accepts a gzip body under the limit', async () => {
    const spans = sdkSpans([serverSpan('/api/gzip', 200, now - 2_000)], 'gzip-ok');
    const body = gzipSync(ProtobufTraceSerializer.serializeRequest(spans)!);
    expect((await post('/v1/traces', body, { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' })).status).toBe(200);
    await p.waitForIdle();
    expect(await count('request_logs', `source = 'gzip-ok'`)).toBe(1);
  });

  it('answers malformed protobuf with 400 and a protobuf google.rpc.Status, queueing nothing', async () => {
    const before = await p.worker.queue.getJobCounts('completed', 'wait', 'active');
    const res = await post('/v1/traces', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]), { 'Content-Type': 'application/x-protobuf' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    const status = messages.status.toObject(messages.status.decode(new Uint8Array(await res.arrayBuffer()))) as { code: number; message: string; details: { typeUrl: string }[] };
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/^the body is not a valid protobuf ExportTraceServiceRequest: /);
    expect(status.details.map((d) => d.typeUrl)).toEqual(['type.googleapis.com/google.rpc.RequestInfo', 'type.googleapis.com/google.rpc.BadRequest']);
    expect(await p.worker.queue.getJobCounts('completed', 'wait', 'active')).toEqual(before);
  });

  it('refuses a missing key (401) and an unknown Content-Type (415) with a Status', async () => {
    const noKey = await fetch(`${p.baseUrl}/otlp/v1/logs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { code: number }).code).toBe(16);
    const text = await post('/v1/logs', 'hello', { 'Content-Type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { message: string }).message).toMatch(/application\/x-protobuf or application\/json/);
  });

  it('answers an empty export with success', async () => {
    const res = await postJson('/v1/logs', {});
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });
});

describe('logs', () => {
  it('maps webhook log records to webhook_attempts and ignores ordinary logs', async () => {
    const kv = (key: string, value: object) => ({ key, value });
    const res = await postJson('/v1/logs', {
      resourceLogs: [
        {
          resource: { attributes: [kv('service.name', { stringValue: 'hooks' }), kv('customer.id', { stringValue: 'cust-logs' })] },
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: ns(now - 10_000),
                  severityNumber: 9,
                  body: { kvlistValue: { values: [kv('event', { stringValue: 'new_transactions_available' }), kv('count', { intValue: 3 })] } },
                  attributes: [
                    kv('webhook.id', { stringValue: 'wh-logs-1' }),
                    kv('webhook.event', { stringValue: 'new_transactions_available' }),
                    kv('webhook.type', { stringValue: 'TRANSACTIONS' }),
                    kv('webhook.attempt', { intValue: '2' }),
                    kv('link.id', { stringValue: 'link-logs' }),
                    kv('url.full', { stringValue: 'https://hooks.example/in?token=abc' }),
                    kv('http.response.status_code', { intValue: 503 }),
                  ],
                },
                { timeUnixNano: ns(now - 9_000), severityNumber: 9, body: { stringValue: 'an ordinary log line' } },
              ],
            },
          ],
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    await p.waitForIdle();
    const rows = await p.rows(`SELECT webhook_id, event, type, link_id, attempt, url, status_code, customer_id, payload FROM ${db}.webhook_attempts WHERE webhook_id = 'wh-logs-1'`);
    expect(rows).toEqual([
      // the token in the URL's query is redacted by the same stage as on /v1/webhook-attempts
      { webhook_id: 'wh-logs-1', event: 'new_transactions_available', type: 'TRANSACTIONS', link_id: 'link-logs', attempt: 2, url: expect.not.stringContaining('token=abc'), status_code: 503, customer_id: 'cust-logs', payload: '{"event":"new_transactions_available","count":3}' },
    ]);
    expect(rows[0]!.url).toMatch(/^https:\/\/hooks\.example\/in\?token=.*redacted/);
  });

  it('lands webhook log records the SDK sends over protobuf from outside any span (no trace or span id)', async () => {
    // a webhook retried from a timer or a job queue logs without an active span: its record has no ids
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'hooks', 'customer.id': 'cust-logs' }), processors: [new SimpleLogRecordProcessor({ exporter })] });
    provider.getLogger('webhooks').emit({
      timestamp: now - 8_000,
      severityNumber: 9,
      body: { event: 'new_accounts_available' },
      attributes: { 'webhook.id': 'wh-logs-nospan', 'webhook.event': 'new_accounts_available', 'webhook.type': 'ACCOUNTS', 'webhook.attempt': 1, 'link.id': 'link-logs', 'url.full': 'https://hooks.example/in', 'http.response.status_code': 200 },
    });
    const res = await post('/v1/logs', ProtobufLogsSerializer.serializeRequest(exporter.getFinishedLogRecords())!, { 'Content-Type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    await p.waitForIdle();
    const rows = await p.rows(`SELECT webhook_id, event, type, attempt, status_code, customer_id FROM ${db}.webhook_attempts WHERE webhook_id = 'wh-logs-nospan'`);
    expect(rows).toEqual([{ webhook_id: 'wh-logs-nospan', event: 'new_accounts_available', type: 'ACCOUNTS', attempt: 1, status_code: 200, customer_id: 'cust-logs' }]);
  });
});
