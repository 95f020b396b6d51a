import { spawnSync } from 'node:child_process';
import { closedLoop } from './http-load.js';
import { firstLine, spawnTs, stopChild } from './child-process.js';
import { percentile, round } from './stats.js';
import type { Progress } from './progress.js';

/**
 * What one Express process can answer on this machine when its handler does nothing: with a tiny
 * body, and with a body the size of an ingest batch (read, not parsed). The load generator is
 * this process, on the same cores; with `wrk` installed its figure is reported as well.
 */
export interface ExpressCeiling {
  connections: number;
  tinyBody: { requestsPerSecond: number; p50Ms: number; p99Ms: number };
  batchBody: { bytes: number; requestsPerSecond: number; p50Ms: number; p99Ms: number };
  wrkTinyBodyRequestsPerSecond?: number;
}

export async function measureExpressCeiling(o: { durationMs: number; connections: number; batchBody: Buffer; progress: Progress }): Promise<ExpressCeiling> {
  const child = spawnTs('bench/trivial-express-server.ts', { NODE_ENV: 'production' }, { stdout: 'pipe' });
  try {
    const port = Number(await firstLine(child));
    const url = new URL(`http://127.0.0.1:${port}/`);
    const run = async (body: Buffer, label: string) => {
      // warm-up: JIT and sockets
      await closedLoop({ url, body, connections: o.connections, durationMs: Math.min(1000, o.durationMs / 3) });
      const r = await closedLoop({
        url,
        body,
        connections: o.connections,
        durationMs: o.durationMs,
        onTick: (n) => o.progress.update(`${label}: ${n} requests`),
      });
      return { requestsPerSecond: round(r.requests / r.seconds), p50Ms: round(percentile(r.latenciesMs, 50)), p99Ms: round(percentile(r.latenciesMs, 99)) };
    };
    const tinyBody = await run(Buffer.from('[{}]'), 'tiny body');
    const batchBody = { bytes: o.batchBody.length, ...(await run(o.batchBody, 'batch-sized body')) };
    return { connections: o.connections, tinyBody, batchBody, wrkTinyBodyRequestsPerSecond: wrk(url, o.durationMs, o.connections) };
  } finally {
    await stopChild(child, 5000);
  }
}

/** wrk's figure when it is installed (a C load generator costs less CPU than ours); undefined otherwise. */
function wrk(url: URL, durationMs: number, connections: number): number | undefined {
  if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) return undefined;
  const script = "wrk.method='POST'; wrk.body='[{}]'; wrk.headers['Content-Type']='application/json'";
  const r = spawnSync('bash', ['-c', `wrk -t1 -c${connections} -d${Math.max(1, Math.round(durationMs / 1000))}s -s <(echo "${script}") ${url.href}`], {
    encoding: 'utf8',
  });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout ?? '');
  return m ? round(Number(m[1])) : undefined;
}
