import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

/**
 * When the worker writes: a lone batch goes out as soon as the queue is idle, while a steady stream
 * is coalesced into about one insert per FLUSH_MIN_INTERVAL_MS per table (each insert has a fixed
 * engine cost). Intervals are long here (3 s) so the difference cannot come from timing noise.
 */
let p: TestPipeline;
const logs = (batch: number, n = 20) =>
  Array.from({ length: n }, (_, i) => ({
    request_id: `b${batch}-${i}`,
    timestamp: Date.now() - 1000,
    method: 'GET',
    endpoint: '/api/accounts/',
    status_code: 200,
    institution: 'erebor_mx_retail',
  }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = async (prefix: string) =>
  Number((await p.rows<{ n: number }>(`SELECT count() AS n FROM ${p.database}.request_logs WHERE startsWith(request_id, '${prefix}')`))[0]!.n);

beforeAll(async () => {
  p = await startTestPipeline({ FLUSH_IDLE_MS: '50', FLUSH_MAX_WAIT_MS: '3000', FLUSH_MIN_INTERVAL_MS: '3000' });
});
afterAll(async () => {
  await p?.close();
});

describe('flush policy', () => {
  it('writes a lone batch once the queue is idle, without waiting for the maximum wait', async () => {
    const flushesBefore = p.worker.batchWriter.stats.flushes;
    const posted = Date.now();
    expect((await p.post('logs', logs(0))).status).toBe(202);
    while ((await count('b0-')) < 20) {
      expect(Date.now() - posted, 'lone batch still not visible').toBeLessThan(2500);
      await sleep(25);
    }
    await p.waitForIdle(); // the job completes (and the flush is counted) just after its rows are visible
    expect(p.worker.batchWriter.stats.flushes - flushesBefore).toBe(1);
  });

  it('coalesces a steady stream into one insert per minimum interval', async () => {
    const flushesBefore = p.worker.batchWriter.stats.flushes;
    // 10 batches 100 ms apart: with only the 50 ms idle rule each would be an insert of its own
    for (let b = 1; b <= 10; b++) {
      expect((await p.post('logs', logs(b))).status).toBe(202);
      await sleep(100);
    }
    await p.waitForIdle();
    let visible = 0;
    for (let b = 1; b <= 10; b++) visible += await count(`b${b}-`);
    expect(visible).toBe(200);
    const inserts = p.worker.batchWriter.stats.flushes - flushesBefore;
    expect(inserts).toBeGreaterThanOrEqual(1);
    expect(inserts).toBeLessThanOrEqual(2);
  });
});
