import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedBatch {
  path: string;
  idempotencyKey: string | undefined;
  records: Record<string, unknown>[];
}

/**
 * A stand-in for the ingest API's HTTP contract, for failure injection the real one cannot do on
 * demand (answer 503 twice, stay down). `answer` picks the status of each request in turn.
 */
export async function fakeIngest(answer: (n: number) => number = () => 202) {
  const received: ReceivedBatch[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const status = answer(++n);
      const records = JSON.parse(body) as Record<string, unknown>[];
      received.push({ path: req.url ?? '', idempotencyKey: req.headers['idempotency-key'] as string | undefined, records });
      res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 503 ? { 'Retry-After': '0' } : {}) });
      res.end(JSON.stringify(status === 202 ? { accepted: records.length, rejected: [], batch_id: 'b' } : { code: 'unavailable', message: 'down', request_id: 'x' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    /** Requests answered so far. */
    get tries() {
      return n;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
