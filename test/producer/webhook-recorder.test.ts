import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Shipper } from '../../producer/shipper.js';
import { recordWebhooks } from '../../producer/webhook-recorder.js';
import { freePort } from '../../scripts/local-redis.js';
import { fakeIngest } from './fake-ingest.js';

let ingest: Awaited<ReturnType<typeof fakeIngest>>;
let endpoint: Server;
let endpointUrl: string;
beforeAll(async () => {
  ingest = await fakeIngest();
  // answers with the status the path asks for
  endpoint = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(Number(req.url!.slice(1))).end('ok'));
  });
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
});
afterAll(async () => {
  endpoint.close();
  await ingest.close();
});

const payload = { webhook_id: 'wh_1', webhook_type: 'TRANSACTIONS', webhook_code: 'new_transactions_available', link_id: 'L1', external_id: 'user-ana', data: { n: 3 } };
const init = (p: object = payload): RequestInit => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(p) });

describe('webhook recorder', () => {
  it('records one attempt per try, numbering tries per webhook, and returns the response unchanged', async () => {
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', flushIntervalMs: 60_000 });
    const send = recordWebhooks(fetch, shipper, { customerId: 'acme' });
    const first = await send(`${endpointUrl}/503`, init());
    expect(first.status).toBe(503);
    const second = await send(`${endpointUrl}/200`, init());
    expect(await second.text()).toBe('ok');
    await send(`${endpointUrl}/200`, init({ ...payload, webhook_id: 'wh_2' }));
    const before = ingest.received.length;
    await shipper.close();
    const recs = ingest.received.slice(before).flatMap((b) => b.records);
    expect(recs.map((r) => [r.webhook_id, r.attempt, r.status_code])).toEqual([['wh_1', 1, 503], ['wh_1', 2, 200], ['wh_2', 1, 200]]);
    expect(recs[0]).toMatchObject({ event: 'new_transactions_available', type: 'TRANSACTIONS', link_id: 'L1', external_id: 'user-ana', customer_id: 'acme', url: `${endpointUrl}/503`, payload });
    expect(recs[0]!.duration_ms).toBeGreaterThan(0);
  });

  it('records a try without a response (status null, the reason) and rethrows the host\'s error', async () => {
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', flushIntervalMs: 60_000 });
    const send = recordWebhooks(fetch, shipper);
    const url = `http://127.0.0.1:${await freePort()}/hook`;
    await expect(send(url, init())).rejects.toThrow();
    await expect(send(`${endpointUrl}/200`, { ...init(), signal: AbortSignal.timeout(0) })).rejects.toThrow();
    const before = ingest.received.length;
    await shipper.close();
    const recs = ingest.received.slice(before).flatMap((b) => b.records);
    expect(recs.map((r) => [r.attempt, r.status_code, r.error])).toEqual([[1, null, 'connection refused'], [2, null, 'timeout']]);
  });

  it('takes the attempt number and fields from a custom describe, and ignores calls it cannot describe', async () => {
    const shipper = new Shipper({ url: ingest.url, apiKey: 'k', flushIntervalMs: 60_000 });
    const send = recordWebhooks(fetch, shipper, {
      describe: (_url, i) => {
        const h = new Headers(i.headers);
        const id = h.get('X-Webhook-Id');
        return id ? { webhook_id: id, event: 'historical_update', type: 'LINKS', link_id: 'L2', attempt: Number(h.get('X-Attempt')) } : undefined;
      },
    });
    await send(`${endpointUrl}/200`, { method: 'POST', headers: { 'X-Webhook-Id': 'wh_9', 'X-Attempt': '4' }, body: '{}' });
    await send(`${endpointUrl}/200`, { method: 'POST', body: 'not a webhook' });
    const before = ingest.received.length;
    await shipper.close();
    const recs = ingest.received.slice(before).flatMap((b) => b.records);
    expect(recs).toEqual([expect.objectContaining({ webhook_id: 'wh_9', attempt: 4, event: 'historical_update', status_code: 200 })]);
  });
});
