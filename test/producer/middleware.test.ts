import type { AddressInfo } from 'node:net';
import { request as httpRequest, type Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Shipper } from '../../producer/shipper.js';
import { requestRecorder, type RequestRecorderOptions } from '../../producer/middleware.js';
import { freePort } from '../../scripts/local-redis.js';
import { fakeIngest } from './fake-ingest.js';

let ingest: Awaited<ReturnType<typeof fakeIngest>>;
const servers: Server[] = [];
beforeAll(async () => {
  ingest = await fakeIngest();
});
afterAll(async () => {
  for (const s of servers) s.close();
  await ingest.close();
});

/** A host app with the recorder in front of a few routes, and the records it shipped. */
async function host(options: RequestRecorderOptions = {}, ingestUrl?: string) {
  const shipper = new Shipper({ url: ingestUrl ?? ingest.url, apiKey: 'k', flushIntervalMs: 60_000, retry: { attempts: 1 } });
  const app = express();
  app.use(requestRecorder(shipper, options));
  const links = express.Router();
  links.get('/:link_id/accounts', (req, res) => {
    res.json({ link: req.params.link_id, balance: 10 });
  });
  links.post('/:link_id/refresh', (_req, res) => {
    res.status(428).json([{ code: 'token_required', message: 'A MFA token is required' }]);
  });
  links.get('/:link_id/text', (_req, res) => {
    res.status(503).send('institution down');
  });
  links.get('/:link_id/raw', (_req, res) => {
    res.statusCode = 502;
    res.end('{"code":"institution_down","message":"raw end"}');
  });
  links.get('/:link_id/boom', () => {
    throw new Error('bug');
  });
  links.get('/:link_id/slow', async (_req, res) => {
    await new Promise((r) => setTimeout(r, 300));
    if (!res.destroyed) res.json({});
  });
  app.use('/api/links', links);
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ code: 'unexpected_error', message: err.message });
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    shipper,
    async shipped() {
      const before = ingest.received.length;
      await shipper.flush();
      return ingest.received.slice(before).flatMap((b) => b.records);
    },
  };
}

describe('request recorder middleware', () => {
  it('generates a request id, sets it on the response, and records it', async () => {
    const h = await host();
    const res = await fetch(`${h.base}/api/links/L1/accounts`);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(await res.json()).toEqual({ link: 'L1', balance: 10 });
    const [rec] = await h.shipped();
    expect(rec).toMatchObject({ request_id: id, method: 'GET', endpoint: '/api/links/:link_id/accounts', status_code: 200, source: 'api' });
    expect(rec!.duration_ms).toBeGreaterThan(0);
    expect(rec!.timestamp).toBeGreaterThan(Date.now() - 60_000);
    // a successful body is never sent to the pipeline
    expect(rec).not.toHaveProperty('response_body');
    expect(rec).not.toHaveProperty('error');
  });

  it('keeps the request id from a configurable header, and replaces an unusable one', async () => {
    const h = await host({ requestIdHeader: 'X-Correlation-Id' });
    const kept = await fetch(`${h.base}/api/links/L1/accounts`, { headers: { 'X-Correlation-Id': 'abc-123' } });
    expect(kept.headers.get('x-correlation-id')).toBe('abc-123');
    const replaced = await fetch(`${h.base}/api/links/L1/accounts`, { headers: { 'X-Correlation-Id': 'bad id with spaces' } });
    expect(replaced.headers.get('x-correlation-id')).toMatch(/^[0-9a-f]{32}$/);
    const recs = await h.shipped();
    expect(recs.map((r) => r.request_id)).toEqual(['abc-123', replaced.headers.get('x-correlation-id')]);
  });

  it('captures the error body whichever of res.json, res.send or res.end sent it, and leaves it intact for the client', async () => {
    const h = await host();
    const json = await fetch(`${h.base}/api/links/L1/refresh`, { method: 'POST' });
    expect(await json.json()).toEqual([{ code: 'token_required', message: 'A MFA token is required' }]);
    const text = await fetch(`${h.base}/api/links/L1/text`);
    expect(await text.text()).toBe('institution down');
    const raw = await fetch(`${h.base}/api/links/L1/raw`);
    expect(await raw.text()).toBe('{"code":"institution_down","message":"raw end"}');
    const recs = await h.shipped();
    expect(recs[0]).toMatchObject({ status_code: 428, method: 'POST', response_body: [{ code: 'token_required', message: 'A MFA token is required' }], error: { code: 'token_required', message: 'A MFA token is required' } });
    expect(recs[1]).toMatchObject({ status_code: 503, response_body: 'institution down' });
    expect(recs[1]).not.toHaveProperty('error');
    expect(recs[2]).toMatchObject({ status_code: 502, error: { code: 'institution_down', message: 'raw end' } });
  });

  it('records the route template of a handler that threw, and an unmatched path without its ids', async () => {
    const h = await host();
    expect((await fetch(`${h.base}/api/links/L9/boom`)).status).toBe(500);
    expect((await fetch(`${h.base}/api/nothing/L9`)).status).toBe(404);
    const recs = await h.shipped();
    expect(recs[0]).toMatchObject({ endpoint: '/api/links/:link_id/boom', status_code: 500, error: { code: 'unexpected_error', message: 'bug' } });
    expect(recs[1]).toMatchObject({ endpoint: '(unmatched)', status_code: 404 });
  });

  it('passes route params to extractors, and a throwing extractor only loses its own field', async () => {
    const errors: string[] = [];
    const h = await host({
      extract: {
        link_id: (_req, _res, route) => route.params.link_id,
        institution: () => {
          throw new Error('lookup failed');
        },
        customer_id: (req) => req.get('X-Customer'),
        error_origin: () => 'institution',
      },
      onError: (m) => errors.push(m),
    });
    const ok = await fetch(`${h.base}/api/links/L7/accounts`, { headers: { 'X-Customer': 'acme' } });
    expect(ok.status).toBe(200);
    await fetch(`${h.base}/api/links/L7/refresh`, { method: 'POST' });
    const recs = await h.shipped();
    expect(recs[0]).toMatchObject({ link_id: 'L7', customer_id: 'acme', status_code: 200 });
    expect(recs[0]).not.toHaveProperty('institution');
    expect(recs[0]).not.toHaveProperty('error_origin'); // only errors have an origin
    expect(recs[1]).toMatchObject({ link_id: 'L7', error_origin: 'institution' });
    expect(errors.join('\n')).toMatch(/extractor institution threw: lookup failed/);
  });

  it('skips what the host asks it to skip', async () => {
    const h = await host({ skip: (req) => req.path.endsWith('/accounts') });
    await fetch(`${h.base}/api/links/L1/accounts`);
    await fetch(`${h.base}/api/links/L1/refresh`, { method: 'POST' });
    expect((await h.shipped()).map((r) => r.status_code)).toEqual([428]);
  });

  it('records a request the client abandoned as 499', async () => {
    const h = await host();
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${h.base}/api/links/L1/slow`);
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await new Promise((r) => setTimeout(r, 400));
    const recs = await h.shipped();
    expect(recs).toEqual([expect.objectContaining({ status_code: 499, endpoint: '/api/links/:link_id/slow' })]);
  });

  it('keeps serving when the ingest API is unreachable', async () => {
    const h = await host({}, `http://127.0.0.1:${await freePort()}`);
    for (let i = 0; i < 20; i++) expect((await fetch(`${h.base}/api/links/L1/accounts`)).status).toBe(200);
    await h.shipper.close();
    expect(h.shipper.stats()).toMatchObject({ failed: 20, buffered: 0 });
  });
});
