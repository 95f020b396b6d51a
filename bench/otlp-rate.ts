import { randomBytes } from 'node:crypto';
import { messages } from '../ingest/otlp/proto.js';
import { processCpuSeconds } from './machine.js';
import type { RunningPipeline } from './pipeline-processes.js';
import type { Progress } from './progress.js';
import { RawHttpClient } from './raw-http.js';
import { round } from './stats.js';
import type { TrafficPool } from './traffic-pool.js';

/**
 * The OpenTelemetry path's rate next to the JSON path's, in the same run and pipeline: the same
 * request logs sent once as JSON to /v1/logs and once as OTLP protobuf SERVER spans (with the
 * attributes the HTTP instrumentation sets) to /otlp/v1/traces, each as fast as `maxInFlight`
 * requests allow, then drained. Every OTLP body is distinct (fresh span ids): a body sent twice
 * would be one batch (ingest/otlp/route.ts), so the pool is not cycled.
 */
export interface PathRate {
  records: number;
  requests: number;
  meanBodyBytes: number;
  /** records of requests answered 202/207 (JSON) or 200 (OTLP) per second of sending */
  acceptedRecordsPerSecond: number;
  /** rows written per second, from the first request to the last row's insert */
  visibleRecordsPerSecond: number;
  rowsVisible: number;
  backpressure429: number;
  otherErrors: number;
  ingestCpuMsPer1kRecords: number;
}
export interface OtlpRateResult {
  maxInFlight: number;
  batchSize: number;
  json: PathRate;
  otlp: PathRate;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function encodePost(url: URL, contentType: string, body: Buffer, apiKey: string): Buffer {
  const head = [`POST ${url.pathname} HTTP/1.1`, `Host: ${url.host}`, `Content-Type: ${contentType}`, `Content-Length: ${body.length}`, `Authorization: Bearer ${apiKey}`];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

interface LogRecord {
  request_id: string;
  timestamp: string | number;
  method: string;
  endpoint: string;
  status_code: number;
  duration_ms?: number;
  link_id?: string;
  external_id?: string;
  institution?: string;
  customer_id?: string;
  source?: string;
  error?: { code: string; message: string };
}

const kv = (key: string, v: string | number) => ({ key, value: typeof v === 'number' ? { intValue: v } : { stringValue: v } });

/** One request log as the SERVER span an instrumented Express app would export for it. */
function spanOf(r: LogRecord) {
  const startNs = BigInt(typeof r.timestamp === 'number' ? r.timestamp : Date.parse(r.timestamp)) * 1_000_000n;
  const attrs = [
    kv('http.request.method', r.method),
    kv('url.scheme', 'http'),
    kv('server.address', 'api.internal'),
    kv('server.port', 8080),
    kv('network.peer.address', '10.0.3.17'),
    kv('network.protocol.version', '1.1'),
    kv('user_agent.original', 'python-requests/2.32.3'),
    kv('url.path', r.endpoint),
    kv('client.address', '10.0.3.17'),
    kv('http.route', r.endpoint),
    kv('http.response.status_code', r.status_code),
  ];
  if (r.link_id) attrs.push(kv('link.id', r.link_id));
  if (r.external_id) attrs.push(kv('link.external_id', r.external_id));
  if (r.institution) attrs.push(kv('institution.name', r.institution));
  if (r.customer_id) attrs.push(kv('customer.id', r.customer_id));
  if (r.error) attrs.push(kv('error.type', r.error.code), kv('error.message', r.error.message));
  return {
    traceId: randomBytes(16),
    spanId: randomBytes(8),
    name: `${r.method} ${r.endpoint}`,
    kind: 2,
    startTimeUnixNano: startNs.toString(),
    endTimeUnixNano: (startNs + BigInt(Math.round((r.duration_ms ?? 1) * 1e6))).toString(),
    attributes: attrs,
  };
}

function otlpBody(records: LogRecord[]): Buffer {
  const request = {
    resourceSpans: [{ resource: { attributes: [kv('service.name', records[0]?.source ?? 'api')] }, scopeSpans: [{ spans: records.map(spanOf) }] }],
  };
  const type = messages.traceRequest;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

async function sendAll(o: {
  pipeline: RunningPipeline;
  requests: { bytes: Buffer; records: number; bodyBytes: number }[];
  ok: number[];
  maxInFlight: number;
  progress: Progress;
  label: string;
}): Promise<PathRate> {
  const p = o.pipeline;
  const base = new URL(p.ingestUrl);
  const client = new RawHttpClient(base.hostname, Number(base.port));
  const db = p.config.CLICKHOUSE_DATABASE;
  const since = Date.now();
  const cpu0 = processCpuSeconds(p.ingest.pid!);
  let next = 0;
  let accepted = 0;
  let backpressure429 = 0;
  let otherErrors = 0;
  await Promise.all(
    Array.from({ length: o.maxInFlight }, async () => {
      while (next < o.requests.length) {
        const r = o.requests[next++]!;
        for (;;) {
          const res = await client.post(r.bytes).catch(() => ({ status: 0 }));
          if (o.ok.includes(res.status)) {
            accepted += r.records;
            break;
          }
          if (res.status === 429 || res.status === 503) backpressure429++;
          else otherErrors++;
          if (res.status !== 429 && res.status !== 503 && res.status !== 0) break;
          await sleep(100);
        }
        if (next % 20 === 0) o.progress.update(`${o.label}: ${next} of ${o.requests.length} requests`);
      }
    }),
  );
  const sentFor = (Date.now() - since) / 1000;
  const cpu = processCpuSeconds(p.ingest.pid!) - cpu0;
  client.close();
  while ((await p.queueDepth()) > 0) await sleep(100);
  await sleep(300);
  const [row] = await (
    await p.clickhouse.query({
      query: `SELECT count() AS n, toUnixTimestamp64Milli(max(ingested_at)) AS last FROM ${db}.request_logs WHERE ingested_at >= fromUnixTimestamp64Milli(${since})`,
      format: 'JSONEachRow',
    })
  ).json<{ n: string; last: string }>();
  const rows = Number(row?.n ?? 0);
  const records = o.requests.reduce((n, r) => n + r.records, 0);
  return {
    records,
    requests: o.requests.length,
    meanBodyBytes: Math.round(o.requests.reduce((n, r) => n + r.bodyBytes, 0) / o.requests.length),
    acceptedRecordsPerSecond: round(accepted / sentFor),
    visibleRecordsPerSecond: round(rows / Math.max(0.001, (Number(row?.last ?? since) - since) / 1000)),
    rowsVisible: rows,
    backpressure429,
    otherErrors,
    ingestCpuMsPer1kRecords: round((cpu * 1e6) / Math.max(1, accepted)),
  };
}

export async function measureOtlpRate(o: { pipeline: RunningPipeline; pool: TrafficPool; records: number; maxInFlight: number; progress: Progress }): Promise<OtlpRateResult> {
  const url = (path: string) => new URL(path, o.pipeline.ingestUrl);
  const logBodies = o.pool.bodies.filter((b) => b.kind === 'logs');
  const batches: LogRecord[][] = [];
  let taken = 0;
  for (const b of logBodies) {
    if (taken >= o.records) break;
    const list = JSON.parse(b.body.toString('utf8')) as LogRecord[];
    batches.push(list);
    taken += list.length;
  }
  const json = batches.map((list) => {
    const body = Buffer.from(JSON.stringify(list));
    return { bytes: encodePost(url('/v1/logs'), 'application/json', body, o.pipeline.apiKey), records: list.length, bodyBytes: body.length };
  });
  const otlp = batches.map((list) => {
    const body = otlpBody(list);
    return { bytes: encodePost(url('/otlp/v1/traces'), 'application/x-protobuf', body, o.pipeline.apiKey), records: list.length, bodyBytes: body.length };
  });
  const common = { pipeline: o.pipeline, maxInFlight: o.maxInFlight, progress: o.progress };
  return {
    maxInFlight: o.maxInFlight,
    batchSize: batches[0]?.length ?? 0,
    json: await sendAll({ ...common, requests: json, ok: [202, 207], label: 'JSON path' }),
    otlp: await sendAll({ ...common, requests: otlp, ok: [200], label: 'OTLP path' }),
  };
}
