import { Agent, request } from 'node:http';

/**
 * A loopback load generator on keep-alive sockets (node:http, which costs less CPU per request
 * than fetch). It shares the machine's cores with what it measures; the report says so.
 */
export interface HttpResult {
  status: number;
  /** epoch ms when the request was sent and when its response had fully arrived */
  sentAt: number;
  doneAt: number;
  body: string;
  /** the response's Server-Timing header, when it has one (ingest's stages: ingest/request-timing.ts) */
  serverTiming?: string;
}

export function httpAgent(connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
}

export function post(agent: Agent, url: URL, body: Buffer, headers: Record<string, string>): Promise<HttpResult> {
  const sentAt = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, sentAt, doneAt: Date.now(), body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** As many requests as `connections` clients can make back to back for `durationMs`. */
export async function closedLoop(o: {
  url: URL;
  body: Buffer;
  connections: number;
  durationMs: number;
  headers?: Record<string, string>;
  onTick?: (done: number) => void;
}): Promise<{ requests: number; errors: number; seconds: number; latenciesMs: number[] }> {
  const agent = httpAgent(o.connections);
  const latenciesMs: number[] = [];
  let requests = 0;
  let errors = 0;
  const started = Date.now();
  const deadline = started + o.durationMs;
  const client = async () => {
    while (Date.now() < deadline) {
      try {
        const r = await post(agent, o.url, o.body, o.headers ?? {});
        if (r.status >= 400) errors++;
        requests++;
        latenciesMs.push(r.doneAt - r.sentAt);
        if (requests % 1000 === 0) o.onTick?.(requests);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.connections }, client));
  const seconds = (Date.now() - started) / 1000;
  agent.destroy();
  return { requests, errors, seconds, latenciesMs };
}

export interface PacedRequest<T> {
  item: T;
  records: number;
}

/**
 * Open loop: sends items so that records/s follows `recordsPerSecond`, whatever the latency,
 * with at most `maxInFlight` requests outstanding. When that cap binds, the generator falls
 * behind the schedule (reported as `behindSchedule`) rather than queueing without bound.
 */
export async function paced<T>(o: {
  next: () => PacedRequest<T>;
  send: (item: T) => Promise<void>;
  recordsPerSecond: number;
  durationMs: number;
  maxInFlight: number;
  onTick?: (sentRecords: number, inFlight: number) => void;
}): Promise<{ sentRecords: number; seconds: number; behindSchedule: boolean }> {
  const started = Date.now();
  let sentRecords = 0;
  let inFlight = 0;
  let capped = 0;
  const pending = new Set<Promise<void>>();
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= o.durationMs) break;
    const due = (o.recordsPerSecond * elapsed) / 1000;
    while (sentRecords < due) {
      if (inFlight >= o.maxInFlight) {
        capped++;
        break;
      }
      const { item, records } = o.next();
      sentRecords += records;
      inFlight++;
      const p: Promise<void> = o.send(item).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    o.onTick?.(sentRecords, inFlight);
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (Date.now() - started) / 1000;
  await Promise.allSettled([...pending]);
  const expected = (o.recordsPerSecond * seconds);
  return { sentRecords, seconds, behindSchedule: capped > 0 && sentRecords < expected * 0.95 };
}
