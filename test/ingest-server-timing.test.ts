import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { startIngest, type IngestRuntime } from '../ingest/runtime.js';
import { parseServerTiming } from '../ingest/request-timing.js';
import { testConfig } from './helpers/pipeline.js';
import { ingestStages } from '../bench/end-to-end.js';

// Each accepted batch says where its time went (Server-Timing), so the bench can tell what the
// slowest requests wait on: prepare (CPU) or which Redis round trip. Real ingest, real Redis.
let ingest: IngestRuntime;

const body = (id: string) => JSON.stringify([{ request_id: id, timestamp: '2026-11-20T10:00:00.000Z', method: 'GET', endpoint: '/a', status_code: 200 }]);
const post = async (headers: Record<string, string> = {}, id = `st-${Math.random().toString(36).slice(2)}`) => {
  const res = await fetch(`${ingest.url}/v1/logs`, {
    method: 'POST',
    headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json', ...headers },
    body: body(id),
  });
  await res.text();
  return { status: res.status, timing: parseServerTiming(res.headers.get('server-timing') ?? undefined), raw: res.headers.get('server-timing') };
};

beforeAll(async () => {
  ingest = await startIngest(testConfig({ ADMIN_TOKEN: 'admin-secret' }), createLogger('test', 'silent'));
});
afterAll(async () => {
  await ingest?.stop();
});

describe('Server-Timing on ingest responses', () => {
  it('splits a plain batch into body, prepare, the enqueue round trip and the total', async () => {
    const r = await post();
    expect(r.status).toBe(202);
    expect(r.raw).toMatch(/^body;dur=[\d.]+, prepare;dur=[\d.]+, limits;dur=[\d.]+, enqueue;dur=[\d.]+, total;dur=[\d.]+$/);
    const { total, ...stages } = r.timing;
    expect(total).toBeGreaterThan(0);
    expect(stages.enqueue).toBeGreaterThan(0); // a Redis round trip takes time
    // the stages are consecutive parts of the total (rounded to 0.01 ms each)
    expect(Object.values(stages).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total! + 0.05);
  });

  it('names the extra round trips of an idempotent batch, and the replay', async () => {
    const key = `k-${Math.random()}`;
    const first = await post({ 'Idempotency-Key': key }, 'st-idem');
    expect(first.status).toBe(202);
    // the batch lookup goes with the claim, the stored answer with the enqueue: two round trips
    expect(Object.keys(first.timing)).toEqual(['body', 'prepare', 'claim', 'limits', 'enqueue', 'total']);
    const replay = await post({ 'Idempotency-Key': key }, 'st-idem');
    expect(replay.status).toBe(202);
    expect(Object.keys(replay.timing)).toEqual(['body', 'prepare', 'claim', 'total']);
  });

  it('counts the stages in obs_ingest_stage_seconds', async () => {
    const count = async (stage: string) => {
      const text = await (await fetch(`${ingest.adminUrl}/metrics`, { headers: { Authorization: 'Bearer admin-secret' } })).text();
      return Number(new RegExp(`^obs_ingest_stage_seconds_count\\{stage="${stage}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    };
    const [prepare, enqueue, claim] = [await count('prepare'), await count('enqueue'), await count('claim')];
    await post();
    expect([await count('prepare'), await count('enqueue'), await count('claim')]).toEqual([prepare + 1, enqueue + 1, claim]);
  });

  it('the bench sums them per stage and over the slowest 1% of requests', () => {
    // 100 requests: 99 fast, one slow because of its enqueue; client latency beyond the total is `outside`
    const requests = Array.from({ length: 100 }, (_, i) =>
      i === 42 ? { latency: 60, stages: { prepare: 5, enqueue: 50, total: 56 } } : { latency: 8, stages: { prepare: 5, enqueue: 1, total: 7 } },
    );
    const s = ingestStages(requests)!;
    expect(s.slowest1pct.requests).toBe(1);
    expect(s.slowest1pct.meanMs).toEqual({ prepare: 5, enqueue: 50, total: 56, outside: 4 });
    expect(s.byStage.enqueue).toEqual({ p50: 1, p99: expect.any(Number) });
    expect(s.byStage.outside!.p50).toBe(1);
  });
});
