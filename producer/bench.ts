import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { Shipper } from './shipper.js';
import { requestRecorder } from './middleware.js';

export interface LatencySummary {
  p50: number;
  p99: number;
}
export interface OverheadResult {
  requests: number;
  rounds: number;
  /** Milliseconds, as the client saw them, on loopback (all requests of the run). */
  baseline: LatencySummary;
  instrumented: LatencySummary;
  /**
   * The latency the middleware adds: the median over rounds of (instrumented - baseline) per
   * quantile. A round hit by a burst of machine noise is outvoted by the others; noise can make a
   * figure slightly negative.
   */
  added: LatencySummary;
  /**
   * The same, counting only the CPU this process used during each request (client, app and
   * middleware share its one thread): a request's wait for a core is left out, so on a slow or busy
   * host this still measures the middleware while `added` measures the host's scheduling too.
   */
  addedOnCpu: LatencySummary;
  /** Records the middleware shipped to the (stand-in) ingest endpoint during the run. */
  shipped: number;
}

export interface OverheadOptions {
  /** Requests per app, after warm-up (default 20,000). */
  requests?: number;
  /** The requests are measured in this many rounds (default 10). */
  rounds?: number;
  warmup?: number;
  /** Every n-th request is an error with a body to capture (default 20: 5% errors). */
  errorEvery?: number;
}

/** The same small host API, with or without the recorder in front of it. */
function hostApp(shipper?: Shipper): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (shipper) {
    app.use(requestRecorder(shipper, { extract: { link_id: (_q, _r, route) => route.params.link_id, customer_id: () => 'bench' } }));
  }
  const r = express.Router();
  r.get('/links/:link_id/accounts', (req, res) => {
    res.json({ link: req.params.link_id, accounts: [{ number: '0042', balance: 1234.5 }] });
  });
  r.post('/links/:link_id/transactions', (_req, res) => {
    res.status(428).json([{ code: 'token_required', message: 'A MFA token is required by the institution to login' }]);
  });
  app.use('/api', r);
  return app;
}

const listen = async (s: Server) => {
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  return (s.address() as AddressInfo).port;
};

/** One request: its wall-clock milliseconds, and the CPU milliseconds this process used meanwhile. */
function once(agent: Agent, port: number, i: number, errorEvery: number): Promise<{ ms: number; cpuMs: number }> {
  const error = i % errorEvery === 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, method: error ? 'POST' : 'GET', path: `/api/links/lnk-${i % 500}/${error ? 'transactions' : 'accounts'}` }, (res) => {
      res.resume();
      res.on('end', () => {
        const cpu = process.cpuUsage(cpu0);
        resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000 });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const summary = (xs: number[]): LatencySummary => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
};
const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * Measures the request recorder's added latency: two copies of a host app on loopback, one with
 * the middleware shipping to a stand-in ingest endpoint, called sequentially over keep-alive
 * connections, alternating between them so both see the same machine noise.
 */
export async function measureMiddlewareOverhead(o: OverheadOptions = {}): Promise<OverheadResult> {
  const requests = o.requests ?? 20_000;
  const rounds = Math.max(1, o.rounds ?? 10);
  const perRound = Math.ceil(requests / rounds);
  const warmup = o.warmup ?? 2000;
  const errorEvery = o.errorEvery ?? 20;
  let shipped = 0;
  const sink = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const n = (JSON.parse(body) as unknown[]).length;
      shipped += n;
      res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ accepted: n, rejected: [], batch_id: 'bench' }));
    });
  });
  const sinkPort = await listen(sink);
  const shipper = new Shipper({ url: `http://127.0.0.1:${sinkPort}`, apiKey: 'bench', flushOnExit: false });
  const plain = createServer(hostApp());
  const observed = createServer(hostApp(shipper));
  const ports = { plain: await listen(plain), observed: await listen(observed) };
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times = { plain: [] as number[], observed: [] as number[] };
  const addedPerRound: LatencySummary[] = [];
  const addedOnCpuPerRound: LatencySummary[] = [];
  try {
    for (let i = 0; i < warmup; i++) {
      await once(agent, ports.plain, i, errorEvery);
      await once(agent, ports.observed, i, errorEvery);
    }
    for (let r = 0; r < rounds; r++) {
      const round = { plain: [] as number[], observed: [] as number[] };
      const onCpu = { plain: [] as number[], observed: [] as number[] };
      for (let i = 1; i <= perRound; i++) {
        // alternate which goes first, so neither always follows the other's garbage
        const order = i % 2 ? (['plain', 'observed'] as const) : (['observed', 'plain'] as const);
        for (const which of order) {
          const t = await once(agent, ports[which], i, errorEvery);
          round[which].push(t.ms);
          onCpu[which].push(t.cpuMs);
        }
      }
      const [b, m] = [summary(round.plain), summary(round.observed)];
      addedPerRound.push({ p50: m.p50 - b.p50, p99: m.p99 - b.p99 });
      const [bc, mc] = [summary(onCpu.plain), summary(onCpu.observed)];
      addedOnCpuPerRound.push({ p50: mc.p50 - bc.p50, p99: mc.p99 - bc.p99 });
      times.plain.push(...round.plain);
      times.observed.push(...round.observed);
    }
    await shipper.close();
  } finally {
    agent.destroy();
    await Promise.all([plain, observed, sink].map((s) => new Promise((r) => s.close(r))));
  }
  const baseline = summary(times.plain);
  const instrumented = summary(times.observed);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    requests: perRound * rounds,
    rounds,
    baseline: { p50: round(baseline.p50), p99: round(baseline.p99) },
    instrumented: { p50: round(instrumented.p50), p99: round(instrumented.p99) },
    added: { p50: round(median(addedPerRound.map((a) => a.p50))), p99: round(median(addedPerRound.map((a) => a.p99))) },
    addedOnCpu: { p50: round(median(addedOnCpuPerRound.map((a) => a.p50))), p99: round(median(addedOnCpuPerRound.map((a) => a.p99))) },
    shipped,
  };
}
