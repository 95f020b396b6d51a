import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Session } from 'chdb';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';

/**
 * Embedded mode: only one process may open the data directory, and the worker holds it. This
 * loopback endpoint speaks the subset of ClickHouse's HTTP interface that @clickhouse/client uses,
 * so `npm run sql` (and any ClickHouse HTTP client) can query while the pipeline runs.
 * It needs a password, written with the URL to a 0600 file beside the data directory.
 */
export interface QueryEndpointInfo {
  url: string;
  password: string;
  pid: number;
}

export function queryEndpointFile(dataDir: string): string {
  return `${resolve(dataDir)}.query-endpoint.json`;
}

/** URL parameters that are not settings. */
const NOT_SETTINGS = new Set(['query', 'query_id', 'database', 'default_format', 'user', 'password', 'session_id', 'session_timeout']);
const HTTP_ONLY = new Set(['wait_end_of_query', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'enable_http_compression']);

const sha = (s: string) => createHash('sha256').update(s).digest();

function passwordOf(req: IncomingMessage, url: URL): string {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return String(req.headers['x-clickhouse-key'] ?? url.searchParams.get('password') ?? '');
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function fail(res: ServerResponse, status: number, code: number, message: string) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': String(code) });
  res.end(message.startsWith('Code:') ? message : `Code: ${code}. DB::Exception: ${message}`);
}

export async function startQueryEndpoint(config: Config, logger: Logger) {
  const dataDir = resolve(config.CLICKHOUSE_DATA_DIR);
  const password = config.QUERY_PASSWORD || randomBytes(18).toString('base64url');
  const expected = sha(password);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => fail(res, 500, 1001, err.message));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/ping') {
      res.end('Ok.\n');
      return;
    }
    if (!timingSafeEqual(sha(passwordOf(req, url)), expected)) {
      fail(res, 401, 516, 'default: Authentication failed: password is incorrect. (AUTHENTICATION_FAILED)');
      return;
    }
    const body = await readBody(req);
    const sql = [url.searchParams.get('query'), body].filter((s) => s && s.length > 0).join('\n');
    if (!sql.trim()) {
      fail(res, 400, 62, 'Empty query. (SYNTAX_ERROR)');
      return;
    }
    const sets: string[] = [];
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) {
      if (NOT_SETTINGS.has(k) || HTTP_ONLY.has(k)) continue;
      if (k.startsWith('param_')) {
        params[k.slice('param_'.length)] = v; // text form, as the server's HTTP interface takes them
        continue;
      }
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        fail(res, 400, 115, `Unknown setting ${k}. (UNKNOWN_SETTING)`);
        return;
      }
      sets.push(`SET ${k} = '${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
    }
    // A session per request: settings such as readonly must not leak into the next request.
    const session = new Session(dataDir);
    try {
      for (const s of sets) await session.queryAsync(s);
      const database = url.searchParams.get('database');
      if (database) await session.queryAsync(`USE \`${database.replace(/`/g, '')}\``);
      const format = url.searchParams.get('default_format') ?? 'TabSeparated';
      const result = Object.keys(params).length
        ? await session.queryBindAsync(sql, params, { format })
        : await session.queryAsync(sql, { format });
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Summary': JSON.stringify({
          read_rows: String(result.rowsRead),
          read_bytes: String(result.bytesRead),
          elapsed_ns: String(Math.round(result.elapsed * 1e9)),
        }),
      });
      res.end(Buffer.from(result.bytes()));
    } catch (err) {
      const message = (err as Error).message;
      const code = Number(/Code: (\d+)/.exec(message)?.[1] ?? 1001);
      fail(res, 500, code, message);
    } finally {
      session.close();
    }
  }

  server.listen(config.QUERY_PORT, config.QUERY_HOST);
  await new Promise<void>((res, rej) => {
    server.once('listening', res);
    server.once('error', rej);
  });
  const { port } = server.address() as AddressInfo;
  const info: QueryEndpointInfo = { url: `http://${config.QUERY_HOST}:${port}`, password, pid: process.pid };
  const file = queryEndpointFile(dataDir);
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  chmodSync(file, 0o600);
  logger.info({ url: info.url }, 'query endpoint listening (loopback; password in the endpoint file)');

  return {
    info,
    async stop() {
      rmSync(file, { force: true });
      const closed = new Promise<void>((res) => server.close(() => res()));
      server.closeAllConnections(); // keep-alive clients would otherwise hold it open
      await closed;
    },
  };
}
