import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The admin listener of a process: /healthz and /readyz for orchestrators (no credential, they
 * reveal nothing), /metrics for Prometheus behind its own bearer token. Loopback by default.
 */
export interface AdminRoutes {
  healthz: () => Promise<{ ok: boolean; detail: Record<string, unknown> }>;
  readyz?: () => Promise<{ ok: boolean; detail: Record<string, unknown> }>;
  metrics: () => Promise<string>;
}

const sha = (s: string) => createHash('sha256').update(s).digest();

export interface AdminServer {
  server: Server;
  url: string;
  stop(): Promise<void>;
}

/** Starts the listener, or returns undefined when its port is -1 (the listener is off). */
export async function startAdminServer(o: { host: string; port: number; token: string; routes: AdminRoutes }): Promise<AdminServer | undefined> {
  if (o.port < 0) return undefined;
  const expected = o.token ? sha(o.token) : null;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      const check = path === '/healthz' ? o.routes.healthz : (o.routes.readyz ?? o.routes.healthz);
      const r = await check();
      return json(res, r.ok ? 200 : 503, { status: r.ok ? 'ok' : 'unhealthy', ...r.detail });
    }
    if (path === '/metrics') {
      const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!expected) return json(res, 403, { code: 'unauthorized', message: 'set ADMIN_TOKEN to enable /metrics' });
      if (!timingSafeEqual(sha(given), expected)) return json(res, 401, { code: 'unauthorized', message: 'missing or invalid admin token' });
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      return res.end(await o.routes.metrics());
    }
    json(res, 404, { code: 'not_found', message: 'no such endpoint' });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => json(res, 500, { code: 'internal_error', message: err.message }));
  });
  server.listen(o.port, o.host);
  await new Promise<void>((res, rej) => {
    server.once('listening', res);
    server.once('error', rej);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${o.host}:${port}`, stop: () => new Promise<void>((r) => server.close(() => r())) };
}
