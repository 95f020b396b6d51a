import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startTestPipeline, testConfig, type TestPipeline } from './helpers/pipeline.js';
import { startIngest } from '../ingest/runtime.js';
import { startAdminServer } from '../lib/admin-server.js';
import { freePort } from '../scripts/local-redis.js';

let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline({ ADMIN_TOKEN: 'admin-secret', LIVENESS_STALL_MS: '300' });
});
afterAll(async () => {
  await p?.close();
});

const log = (id: string, status = 200) => ({ request_id: id, timestamp: Date.now(), method: 'GET', endpoint: '/api/owners/', status_code: status });
const metricValue = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('pipeline metrics and liveness', () => {
  it('serves ingest metrics behind the admin token: records by outcome, errors by code', async () => {
    const ingestAdmin = p.ingestAdminUrl;
    expect((await fetch(`${ingestAdmin}/metrics`)).status).toBe(401);
    expect((await fetch(`${ingestAdmin}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await p.post('logs', [log('m1'), log('m2'), { bad: true }])).status).toBe(207);
    expect((await p.post('logs', [{ bad: true }])).status).toBe(400);
    const text = await (await fetch(`${ingestAdmin}/metrics`, { headers: { Authorization: 'Bearer admin-secret' } })).text();
    expect(metricValue(text, 'obs_ingest_records_total{endpoint="logs",outcome="accepted"}')).toBe(2);
    expect(metricValue(text, 'obs_ingest_records_total{endpoint="logs",outcome="rejected_invalid"}')).toBe(2);
    expect(metricValue(text, 'obs_ingest_errors_total{code="validation_error"}')).toBe(1);
    expect(metricValue(text, 'obs_ingest_requests_total{route="/v1/logs",status="207"}')).toBe(1);
    expect(text).toMatch(/^# TYPE obs_ingest_request_seconds histogram$/m);
    expect((await fetch(`${ingestAdmin}/healthz`)).status).toBe(200);
  });

  it('counts rows written and insert sizes in the worker', async () => {
    await p.post('logs', Array.from({ length: 30 }, (_, i) => log(`w${i}`)));
    await p.waitForIdle();
    const text = await p.worker.metrics.registry.render();
    expect(metricValue(text, 'obs_rows_written_total{table="request_logs"}')).toBe(32);
    expect(metricValue(text, 'obs_clickhouse_insert_rows_count{table="request_logs"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'obs_queue_jobs{state="wait"}')).toBe(0);
    // the completed event can trail the queue emptying by a moment
    await vi.waitFor(async () => expect(metricValue(await p.worker.metrics.registry.render(), 'obs_job_latency_seconds_count')).toBe(2)); // two jobs: the 207 batch and this one
  });

  it('reports a wedged worker unhealthy while the queue has work, and healthy once it consumes again', async () => {
    expect((await p.worker.liveness.check()).ok).toBe(true);
    await p.worker.worker.pause(true); // stands in for a consumer that silently stopped fetching
    // a fetch already blocked in Redis may still take one job; the others stay waiting
    for (let i = 0; i < 3; i++) await p.post('logs', [log(`stuck-${i}`)]);
    await new Promise((r) => setTimeout(r, 800));
    const wedged = await p.worker.liveness.check();
    expect(wedged.ok).toBe(false);
    expect(wedged.detail.reason).toMatch(/^[1-3] jobs waiting and none taken for \d+ s$/);
    p.worker.worker.resume();
    await p.waitForIdle();
    expect((await p.worker.liveness.check()).ok).toBe(true);
  });

  it('answers /healthz with 503 and the reason on the admin listener', async () => {
    const admin = (await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      token: '',
      routes: { healthz: async () => ({ ok: false, detail: { reason: 'stuck' } }), metrics: async () => '' },
    }))!;
    try {
      const res = await fetch(`${admin.url}/healthz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unhealthy', reason: 'stuck' });
      expect((await fetch(`${admin.url}/metrics`)).status).toBe(403); // no ADMIN_TOKEN: /metrics stays off
    } finally {
      await admin.stop();
    }
  });
});

describe('secrets stay out of logs', () => {
  it('never logs an API key, valid or not, even when Redis is down', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) });
    const logger = pino({ level: 'trace' }, sink);
    const config = testConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, INGEST_API_KEYS: 'sekrit-key-123' });
    const ingest = await startIngest(config, logger);
    try {
      for (const key of ['sekrit-key-123', 'wrong-key-456']) {
        await fetch(`${ingest.url}/v1/logs`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify([log('x')]),
        });
      }
    } finally {
      await ingest.stop();
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toMatch(/sekrit-key-123|wrong-key-456/);
    // each request is logged with its id
    const access = lines.map((l) => JSON.parse(l) as { msg: string; request_id?: string; status?: number }).filter((l) => l.msg === 'request');
    expect(access.map((l) => l.status).sort()).toEqual([401, 503]);
    expect(access.every((l) => typeof l.request_id === 'string' && l.request_id.length > 0)).toBe(true);
  });
});
