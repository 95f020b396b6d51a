import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  raw: string;
  body: unknown;
}

/**
 * A real HTTP endpoint on loopback standing in for a customer's alert webhook. The first
 * `failFirst` requests are answered 500, to prove deliveries are retried.
 */
export async function startReceiver(opts: { failFirst?: number } = {}) {
  let attempts = 0;
  const delivered: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts++;
      if (attempts <= (opts.failFirst ?? 0)) {
        res.writeHead(500).end('receiver down');
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      delivered.push({ at: Date.now(), headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    delivered,
    attempts: () => attempts,
    /** Resolves when `count` deliveries have arrived. */
    async waitFor(count: number, timeoutMs = 20_000): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs;
      while (delivered.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} deliveries, got ${delivered.length} after ${timeoutMs} ms`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 200))]);
      }
      return delivered;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
