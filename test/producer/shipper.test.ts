import { afterEach, describe, expect, it } from 'vitest';
import { Shipper } from '../../producer/shipper.js';
import { freePort } from '../../scripts/local-redis.js';
import { fakeIngest } from './fake-ingest.js';

const log = (i: number) => ({ request_id: `r${i}`, timestamp: Date.now(), method: 'GET' as const, endpoint: '/api/x/', status_code: 200 });
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

describe('shipper', () => {
  it('ships in batches of batchSize, each with its own Idempotency-Key, to each kind\'s path', async () => {
    const ingest = await fakeIngest();
    closers.push(ingest.close);
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', batchSize: 4, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) shipper.record('logs', log(i));
    shipper.record('links', { link_id: 'l1', status: 'valid', access_mode: 'recurrent', institution: 'b', created_at: Date.now(), updated_at: Date.now() });
    await shipper.close();
    const logs = ingest.received.filter((b) => b.path === '/v1/logs');
    expect(logs.map((b) => b.records.length)).toEqual([4, 4, 2]);
    expect(logs.flatMap((b) => b.records.map((r) => r.request_id))).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    expect(new Set(logs.map((b) => b.idempotencyKey)).size).toBe(3);
    expect(ingest.received.filter((b) => b.path === '/v1/links')).toHaveLength(1);
    expect(shipper.stats()).toEqual({ buffered: 0, shipped: 11, rejected: 0, dropped: 0, failed: 0 });
  });

  it('retries a failed batch with backoff under the same Idempotency-Key', async () => {
    const ingest = await fakeIngest((n) => (n <= 2 ? 503 : 202));
    closers.push(ingest.close);
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', retry: { baseDelayMs: 5, maxDelayMs: 20 }, flushIntervalMs: 60_000 });
    shipper.record('logs', log(1));
    await shipper.close();
    expect(ingest.received).toHaveLength(3);
    expect(new Set(ingest.received.map((b) => b.idempotencyKey)).size).toBe(1);
    expect(shipper.stats()).toMatchObject({ shipped: 1, failed: 0 });
  });

  it('gives up after the configured tries and counts the lost records, telling onError', async () => {
    const messages: string[] = [];
    const port = await freePort(); // nothing listens: every try is a network error
    const shipper = new Shipper({ url: `http://127.0.0.1:${port}`, apiKey: 'k', retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }, onError: (m) => messages.push(m) });
    shipper.record('logs', log(1));
    shipper.record('logs', log(2));
    await shipper.flush();
    expect(shipper.stats()).toMatchObject({ buffered: 0, shipped: 0, failed: 2 });
    expect(messages.join('\n')).toMatch(/gave up on a batch of 2 logs after 3 tries/);
    await shipper.close();
  });

  it('does not retry a batch ingest refuses as invalid, and counts it as rejected', async () => {
    const ingest = await fakeIngest(() => 400);
    closers.push(ingest.close);
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k' });
    shipper.record('logs', log(1));
    await shipper.close();
    expect(ingest.tries).toBe(1);
    expect(shipper.stats()).toMatchObject({ rejected: 1, failed: 0 });
  });

  it('keeps memory bounded: a full buffer drops the oldest records and counts them', async () => {
    const ingest = await fakeIngest();
    closers.push(ingest.close);
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', maxBuffered: 3, batchSize: 100, flushIntervalMs: 60_000 });
    for (let i = 0; i < 8; i++) shipper.record('logs', log(i));
    expect(shipper.stats()).toMatchObject({ buffered: 3, dropped: 5 });
    await shipper.close();
    expect(ingest.received.flatMap((b) => b.records.map((r) => r.request_id))).toEqual(['r5', 'r6', 'r7']);
  });

  it('never throws into the caller, even with a record that cannot be serialised or a throwing onError', async () => {
    const ingest = await fakeIngest();
    closers.push(ingest.close);
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', onError: () => { throw new Error('logger broke'); } });
    const circular: Record<string, unknown> = { ...log(1) };
    circular.self = circular;
    expect(() => shipper.record('logs', circular as never)).not.toThrow();
    await expect(shipper.close()).resolves.toBeUndefined();
    expect(shipper.stats()).toMatchObject({ failed: 1, buffered: 0 });
  });

  it('close() ships what the timer has not yet sent (flush on shutdown)', async () => {
    const ingest = await fakeIngest();
    closers.push(ingest.close);
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', flushIntervalMs: 60_000 });
    shipper.record('logs', log(1));
    expect(ingest.received).toHaveLength(0);
    await shipper.close();
    expect(ingest.received).toHaveLength(1);
  });
});
