import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../lib/logger.js';
import { startIngest, type IngestRuntime } from '../ingest/runtime.js';
import { QUEUE_NAME, type BatchJob } from '../queue/jobs.js';
import { readJobRows, rowObjects, splitRows } from '../queue/job-rows.js';
import { freePort } from '../scripts/local-redis.js';
import { testConfig } from './helpers/pipeline.js';
import type { Config } from '../config/env.js';

// The ingest contract, with real Redis and no worker: what is queued is inspected in the queue itself.
let config: Config;
let ingest: IngestRuntime;
let queue: Queue<BatchJob>;
let redis: Redis;
const logger = createLogger('test', 'silent');

const log = (over: Record<string, unknown> = {}) => ({
  request_id: `r-${Math.random().toString(36).slice(2)}`,
  timestamp: '2026-11-20T10:00:00.000-03:00',
  method: 'GET',
  endpoint: '/api/accounts/',
  status_code: 200,
  ...over,
});

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${ingest.url}${path}`, {
    method: 'POST',
    headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON: the assertions below say so */
  }
  return { status: res.status, json, headers: res.headers, text };
}

const queued = async () => {
  const jobs = await queue.getJobs(['wait', 'active', 'delayed', 'prioritized']);
  return Promise.all(
    jobs.map(async (j) => {
      const rows = await readJobRows(redis, config.QUEUE_PREFIX, j);
      return { ...j.data, text: rows.text.toString(), lines: splitRows(rows), records: rowObjects(rows) };
    }),
  );
};

beforeAll(async () => {
  config = testConfig({ MAX_RECORDS_PER_REQUEST: '100', MAX_BODY_BYTES: '65536', QUEUE_MAX_JOBS: '1000' });
  ingest = await startIngest(config, logger);
  redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: null });
  queue = new Queue<BatchJob>(QUEUE_NAME, { connection: redis, prefix: config.QUEUE_PREFIX });
});
afterAll(async () => {
  await ingest?.stop();
  await queue?.close();
  redis?.disconnect();
});

describe('ingest contract', () => {
  it('accepts a valid JSON batch with 202 and queues one job with normalised rows', async () => {
    const before = (await queued()).length;
    const r = await post('/v1/logs', JSON.stringify([log({ request_id: 'a1' }), log({ request_id: 'a2', status_code: 500 })]));
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ accepted: 2, rejected: [] });
    expect(typeof r.json.batch_id).toBe('string');
    expect(r.headers.get('x-request-id')).toMatch(/^\w+$/);
    const jobs = await queued();
    expect(jobs.length).toBe(before + 1);
    const job = jobs.find((j) => j.batch_id === r.json.batch_id)!;
    expect(job).toMatchObject({ v: 3, kind: 'logs', count: 2 });
    // the rows are beside the job, as the insert's own text: one JSON array per row in column order, the batch id last
    if (job.v !== 3) throw new Error(`ingest queued a v${job.v} job`);
    expect(job).not.toHaveProperty('rows');
    const lines = job.lines;
    expect(lines).toHaveLength(2);
    expect(job.text).toBe(lines.join(','));
    expect(job.columns.at(-1)).toBe('batch_id');
    expect(JSON.parse(lines[1]!)).toHaveLength(job.columns.length);
    expect(JSON.parse(lines[1]!)[job.columns.indexOf('request_id')]).toBe('a2');
    expect(JSON.parse(lines[1]!).at(-1)).toBe(r.json.batch_id);
    // -03:00 offset normalised to UTC
    expect(job.records[0]).toMatchObject({ request_id: 'a1', timestamp: '2026-11-20 13:00:00.000', source: 'api' });
  });

  it('drops successful response bodies before queueing and keeps error bodies', async () => {
    const body = { code: 'token_required', message: 'A MFA token is required', request_id: 'x' };
    const r = await post(
      '/v1/logs',
      JSON.stringify([
        log({ request_id: 'ok', response_body: { balance: 1234, account: '0001' } }),
        log({ request_id: 'err', status_code: 428, response_body: body, error: { code: 'token_required', message: 'A MFA token is required' } }),
      ]),
    );
    expect(r.status).toBe(202);
    const job = (await queued()).find((j) => j.batch_id === r.json.batch_id)!;
    const ok = job.records.find((x) => x.request_id === 'ok')!;
    const err = job.records.find((x) => x.request_id === 'err')!;
    expect(ok.response_body).toBe('');
    expect(JSON.stringify(job)).not.toContain('1234');
    expect(JSON.parse(String(err.response_body))).toEqual(body);
    expect(err.error_code).toBe('token_required');
  });

  it('accepts NDJSON and epoch-millisecond timestamps', async () => {
    const lines = [log({ request_id: 'n1', timestamp: Date.UTC(2026, 10, 20) }), log({ request_id: 'n2' })]
      .map((x) => JSON.stringify(x))
      .join('\n');
    const r = await post('/v1/logs', `${lines}\n`, { 'Content-Type': 'application/x-ndjson' });
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(2);
    const job = (await queued()).find((j) => j.batch_id === r.json.batch_id)!;
    expect(job.records[0]!.timestamp).toBe('2026-11-20 00:00:00.000');
  });

  it('answers 207 with the index and path of each invalid record and queues the valid ones', async () => {
    const r = await post(
      '/v1/logs',
      JSON.stringify([log(), log({ status_code: 999 }), log(), { ...log(), method: 'FETCH', request_id: undefined }]),
    );
    expect(r.status).toBe(207);
    expect(r.json.accepted).toBe(2);
    const rejected = r.json.rejected as { index: number; errors: { path: string; message: string }[] }[];
    expect(rejected.map((x) => x.index)).toEqual([1, 3]);
    expect(rejected[0]!.errors.map((e) => e.path)).toEqual(['status_code']);
    expect(rejected[1]!.errors.map((e) => e.path).sort()).toEqual(['method', 'request_id']);
    const job = (await queued()).find((j) => j.batch_id === r.json.batch_id)!;
    expect(job.records).toHaveLength(2);
  });

  it('answers 400 validation_error when no record is valid, and queues nothing', async () => {
    const before = (await queued()).length;
    const r = await post('/v1/webhook-attempts', JSON.stringify([{ webhook_id: 'w' }]));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'validation_error', request_id: r.headers.get('x-request-id') });
    expect((r.json.rejected as unknown[]).length).toBe(1);
    expect((await queued()).length).toBe(before);
  });

  it('validates each endpoint with its own schema', async () => {
    const link = {
      link_id: 'l1',
      status: 'token_required',
      access_mode: 'recurrent',
      institution: 'bank_a',
      created_at: '2026-11-01T00:00:00Z',
      updated_at: '2026-11-20T00:00:00Z',
    };
    expect((await post('/v1/links', JSON.stringify([link]))).status).toBe(202);
    expect((await post('/v1/links', JSON.stringify([{ ...link, status: 'broken' }]))).status).toBe(400);
    const attempt = {
      webhook_id: 'w1',
      event: 'new_transactions_available',
      type: 'TRANSACTIONS',
      link_id: 'l1',
      attempt: 1,
      url: 'https://customer.example/hook',
      status_code: null,
      error: 'timeout',
      timestamp: '2026-11-20T00:00:00Z',
    };
    expect((await post('/v1/webhook-attempts', JSON.stringify([attempt]))).status).toBe(202);
    expect((await post('/v1/webhook-attempts', JSON.stringify([{ ...attempt, attempt: 0 }]))).status).toBe(400);
  });

  it('answers 400 invalid_json for a broken body, with the line for NDJSON', async () => {
    const a = await post('/v1/logs', '[{"request_id": ');
    expect(a.status).toBe(400);
    expect(a.json.code).toBe('invalid_json');
    const b = await post('/v1/logs', `${JSON.stringify(log())}\n{oops}\n`, { 'Content-Type': 'application/x-ndjson' });
    expect(b.status).toBe(400);
    expect(b.json).toMatchObject({ code: 'invalid_json', line: 2 });
    const c = await post('/v1/logs', JSON.stringify({ not: 'an array' }));
    expect(c.status).toBe(400);
    expect(c.json.code).toBe('validation_error');
  });

  it('answers 401 without a valid key, and accepts every configured key', async () => {
    for (const auth of [undefined, 'Bearer nope', 'Basic dGVzdA==']) {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (auth) headers.Authorization = auth;
      const res = await fetch(`${ingest.url}/v1/logs`, { method: 'POST', headers, body: JSON.stringify([log()]) });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'unauthorized', request_id: res.headers.get('x-request-id') });
    }
    expect((await post('/v1/logs', JSON.stringify([log()]), { Authorization: 'Bearer test-key-2' })).status).toBe(202);
  });

  it('answers 413 over the record limit or the byte limit', async () => {
    const many = await post('/v1/logs', JSON.stringify(Array.from({ length: 101 }, () => log())));
    expect(many.status).toBe(413);
    expect(many.json).toMatchObject({ code: 'payload_too_large', limit: 100 });
    const big = await post('/v1/logs', JSON.stringify([log({ endpoint: 'x'.repeat(70_000) })]));
    expect(big.status).toBe(413);
    expect(big.json.code).toBe('payload_too_large');
  });

  it('answers 415 for other content types', async () => {
    const r = await post('/v1/logs', 'request_id=1', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(415);
    expect(r.json.code).toBe('unsupported_media_type');
  });

  it('replays the first response for a repeated Idempotency-Key and queues the batch once', async () => {
    const body = JSON.stringify([log({ request_id: 'idem-1' }), log({ request_id: 'idem-2' })]);
    const first = await post('/v1/logs', body, { 'Idempotency-Key': 'key-123' });
    expect(first.status).toBe(202);
    const second = await post('/v1/logs', body, { 'Idempotency-Key': 'key-123' });
    expect(second.status).toBe(202);
    expect(second.json).toEqual(first.json);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const jobs = (await queued()).filter((j) => j.records.some((r) => r.request_id === 'idem-1'));
    expect(jobs).toHaveLength(1);
    // the same key with another body is a producer bug: 409, nothing queued
    const other = await post('/v1/logs', JSON.stringify([log()]), { 'Idempotency-Key': 'key-123' });
    expect(other.status).toBe(409);
    expect(other.json.code).toBe('idempotency_conflict');
    // keys are scoped per API key
    const otherKey = await post('/v1/logs', body, { 'Idempotency-Key': 'key-123', Authorization: 'Bearer test-key-2' });
    expect(otherKey.json.batch_id).not.toBe(first.json.batch_id);
  });

  it('keeps a caller X-Request-Id and answers unknown paths with the error shape', async () => {
    const res = await fetch(`${ingest.url}/v1/nope`, { headers: { 'X-Request-Id': 'abc-123' } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 'not_found', message: 'no such endpoint', request_id: 'abc-123' });
  });

  it('reports liveness, and readiness naming what is missing', async () => {
    expect((await fetch(`${ingest.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${ingest.url}/readyz`);
    // no worker runs here, so nobody reports ClickHouse health
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { code: string; checks: Record<string, string> };
    expect(body.code).toBe('unavailable');
    expect(body.checks.redis).toBe('ok');
    expect(body.checks.clickhouse).toMatch(/no worker/);
  });
});

describe('backpressure and Redis outage', () => {
  it('answers 429 with Retry-After once the queue is over its cap', async () => {
    const capped = testConfig({ QUEUE_MAX_JOBS: '2', BACKPRESSURE_RETRY_AFTER_S: '7' });
    const small = await startIngest(capped, logger);
    try {
      const send = () =>
        fetch(`${small.url}/v1/logs`, {
          method: 'POST',
          headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
          body: JSON.stringify([log()]),
        });
      expect((await send()).status).toBe(202);
      expect((await send()).status).toBe(202);
      await new Promise((r) => setTimeout(r, 300)); // the depth is cached for 250 ms
      const third = await send();
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('7');
      expect(await third.json()).toMatchObject({ code: 'backpressure' });
    } finally {
      await small.stop();
    }
  });

  it('answers 429 when Redis memory is over QUEUE_MAX_BYTES, whatever the job count', async () => {
    const ballast = `${config.QUEUE_PREFIX}:test-ballast`;
    await redis.set(ballast, 'x'.repeat(2 * 1024 * 1024)); // Redis now uses well over 1 MiB
    const capped = testConfig({ QUEUE_MAX_BYTES: String(1024 * 1024) });
    const small = await startIngest(capped, logger);
    try {
      const res = await fetch(`${small.url}/v1/logs`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
        body: JSON.stringify([log()]),
      });
      expect(res.status).toBe(429);
      expect((await res.json()) as { message: string }).toMatchObject({ code: 'backpressure', message: expect.stringMatching(/MiB in Redis/) });
    } finally {
      await small.stop();
      await redis.del(ballast);
    }
  });

  it('answers 503 fast when Redis is unreachable', async () => {
    const dead = testConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const lonely = await startIngest(dead, logger);
    try {
      const t0 = Date.now();
      const res = await fetch(`${lonely.url}/v1/logs`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
        body: JSON.stringify([log()]),
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'unavailable' });
      expect(Date.now() - t0).toBeLessThan(3000);
      expect((await fetch(`${lonely.url}/readyz`)).status).toBe(503);
    } finally {
      await lonely.stop();
    }
  });
});
