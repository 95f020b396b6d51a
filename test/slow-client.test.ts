import { afterAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { createLogger } from '../lib/logger.js';
import { startIngest, type IngestRuntime } from '../ingest/runtime.js';
import { testConfig } from './helpers/pipeline.js';

/**
 * A client that sends its headers and part of its body, then stalls. Past the request timeout it
 * gets 408 in the common error shape (not a reset connection), and meanwhile ingest keeps
 * answering everybody else.
 */
const REQUEST_TIMEOUT_MS = 1500;
let ingest: IngestRuntime | undefined;
afterAll(async () => {
  await ingest?.stop();
});

const record = (n: number) => ({ request_id: `slow-${n}`, timestamp: Date.UTC(2026, 10, 20), method: 'GET', endpoint: '/api/balances/', status_code: 200 });

describe('a slow client', () => {
  it('gets 408 {code, message, request_id} past the body timeout while others are served', async () => {
    ingest = await startIngest(testConfig(), createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent'), { requestTimeoutMs: REQUEST_TIMEOUT_MS });
    const { hostname, port } = new URL(ingest.url);

    // headers and half the body, then nothing
    const body = JSON.stringify([record(0)]);
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    const closed = new Promise<number>((res) => socket.on('close', () => res(Date.now())));
    await new Promise((res) => socket.once('connect', res));
    const openedAt = Date.now();
    socket.write(
      `POST /v1/logs HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer test-key-1\r\nContent-Type: application/json\r\nX-Request-Id: slow-client-1\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, body.length / 2)}`,
    );

    // others are served while the slow request is held open
    const others: number[] = [];
    const latencies: number[] = [];
    for (let i = 1; Date.now() - openedAt < REQUEST_TIMEOUT_MS + 500; i++) {
      const t0 = Date.now();
      const res = await fetch(`${ingest.url}/v1/logs`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/json' },
        body: JSON.stringify([record(i)]),
      });
      others.push(res.status);
      latencies.push(Date.now() - t0);
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
    }

    const closedAt = await closed;
    const [head, json] = received.split('\r\n\r\n');
    console.log(`slow client: answered after ${closedAt - openedAt} ms: ${head?.split('\r\n')[0]} ${json}; ${others.length} other requests meanwhile, slowest ${Math.max(...latencies)} ms`);
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(head).toMatch(/\r\nContent-Type: application\/json/i);
    const error = JSON.parse(json!) as Record<string, unknown>;
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'request_id']);
    // the id the client sent, in the body and the header
    expect(error.request_id).toBe('slow-client-1');
    expect(head).toContain('X-Request-Id: slow-client-1');
    // answered at the timeout, not at Node's default 30 s check
    expect(closedAt - openedAt).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(closedAt - openedAt).toBeLessThan(REQUEST_TIMEOUT_MS + 2500);
    expect(others.length).toBeGreaterThanOrEqual(5);
    expect(new Set(others)).toEqual(new Set([202]));
  });
});
