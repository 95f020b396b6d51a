import express from 'express';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP ceiling: an Express 5 app whose handler does nothing but read the body and answer 202.
 * Started as its own process by bench/express-ceiling.ts; prints its port on stdout.
 */
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/', express.raw({ type: () => true, limit: 16 * 1024 * 1024 }), (req, res) => {
  res.status(202).json({ accepted: Buffer.isBuffer(req.body) ? req.body.length : 0 });
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
