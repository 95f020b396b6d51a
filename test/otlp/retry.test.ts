import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import { sdkSpans, serverSpan } from './sdk-spans.js';

// The SDK's own exporter (retrying transport: 429/502/503/504, honouring Retry-After) against our
// backpressure. OTLP exporters resend the whole batch: what the first attempt queued must not land twice.
let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline({ QUEUE_MAX_JOBS: '2', BACKPRESSURE_RETRY_AFTER_S: '1', ADMIN_TOKEN: 'admin-secret' });
});
afterAll(async () => {
  await p?.close();
});

const metrics = async () => (await fetch(`${p.ingestAdminUrl}/metrics`, { headers: { Authorization: 'Bearer admin-secret' } })).text();
const requests = (text: string, status: number) =>
  Number(new RegExp(`^obs_ingest_requests_total\\{route="/otlp/v1/traces",status="${status}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);

describe('a retried OTLP export', () => {
  it('is answered 429 with Retry-After under backpressure, retried by the SDK, and lands exactly once', async () => {
    const now = Date.now();
    const spans = sdkSpans(
      [
        serverSpan('/api/links/:id', 200, now - 2_000),
        {
          name: 'POST webhook',
          kind: SpanKind.CLIENT,
          startMs: now - 1_500,
          durationMs: 80,
          attributes: { 'webhook.id': 'wh-retry', 'webhook.event': 'new_transactions_available', 'webhook.type': 'TRANSACTIONS', 'webhook.attempt': 1, 'link.id': 'link-r', 'url.full': 'https://hooks.example/r', 'http.response.status_code': 200 },
        },
      ],
      'retry-test',
    );

    // The worker is paused and one job waits: the export's request_logs batch fills the queue to its
    // cap of 2, so its webhook_attempts batch is refused with 429 after the first one was queued.
    // pause() (not pause(true)) also ends the blocking fetch in flight, which could still take the filler
    await p.worker.worker.pause();
    expect((await p.post('logs', [{ request_id: 'filler', timestamp: now, method: 'GET', endpoint: '/x', status_code: 200 }])).status).toBe(202);

    const exporter = new OTLPTraceExporter({ url: `${p.baseUrl}/otlp/v1/traces`, headers: { Authorization: `Bearer ${p.apiKey}` }, compression: CompressionAlgorithm.GZIP });
    const exported = new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));

    await vi.waitFor(async () => expect(requests(await metrics(), 429)).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
    // the first attempt queued its request_logs batch before the 429
    expect((await p.worker.queue.getJobCounts('wait')).wait).toBe(2);
    p.worker.worker.resume();

    const result = await exported;
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    const text = await metrics();
    expect(requests(text, 200)).toBe(1);
    await p.waitForIdle();
    await exporter.shutdown();

    const logs = await p.rows<{ n: string }>(`SELECT count() AS n FROM ${p.database}.request_logs WHERE source = 'retry-test'`);
    const attempts = await p.rows<{ n: string }>(`SELECT count() AS n FROM ${p.database}.webhook_attempts WHERE webhook_id = 'wh-retry'`);
    expect([Number(logs[0]?.n), Number(attempts[0]?.n)]).toEqual([1, 1]);
  });
});
