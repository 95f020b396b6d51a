import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AlertNotification } from '../alerting/notification.js';

/**
 * The demo's notifier: a webhook receiver on loopback that prints every alert notice to the
 * console. `npm start` points the worker's ALERT_WEBHOOK_URL here, so the notices take the real
 * path (evaluator -> delivery queue -> signed HTTP POST) and still land in the alerts table.
 */
export async function startAlertConsole(print: (line: string) => void) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const n = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AlertNotification;
        print(`ALERT ${n.notice.toUpperCase()} [${n.rule.title}] ${n.summary}`);
        if (n.status === 'firing') print(`  see ${n.links.insights}`);
        res.writeHead(204).end();
      } catch (err) {
        // A malformed body is a bug on our side: say so, and let the delivery retry.
        print(`alert console: unreadable notice (${(err as Error).message})`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
