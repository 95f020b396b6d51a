// CPU of each step of ingest's hot path (parse, validate, stages, row mapping, job JSON) over the
// bench traffic, without HTTP or Redis: `npx tsx bench/ingest-hot-path.ts [--zod]`.
// Each step runs over the whole pool at once and is timed in process CPU (all threads, GC
// included), 7 rounds, median: less sensitive to other load on the machine than wall time.
// --zod validates with zod alone (the compiled parser off), for before/after figures;
// --kind=K times one record kind alone; --otlp times the OTLP receiver's steps instead (protobuf
// decode, normalise, map to records, prepare) on the request logs as SERVER spans.
// --enqueue[=rowsBytes|oneString] times encoding a batch's rows and SETting them in a private
// redis-server (this process's CPU and page faults only; see enqueueHotPath).
import { buildTrafficPool } from './traffic-pool.js';
import { recordKinds } from '../schema/records.js';
import type { Cell } from '../schema/row-mapping.js';
import { safeParseFast } from '../schema/fast-parse.js';
import { configuredStages, runStages } from '../ingest/stages.js';
import { parseRecords } from '../ingest/body.js';
import { encodeValues } from '../queue/job-rows.js';
import { median } from './stats.js';

const zodOnly = process.argv.includes('--zod');
const onlyKind = process.argv.find((a) => a.startsWith('--kind='))?.slice('--kind='.length);
const full = buildTrafficPool({ logs: 20_000, batchSize: 500 });
const pool = { ...full, bodies: full.bodies.filter((b) => !onlyKind || b.kind === onlyKind) };
const stages = configuredStages();
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
if (process.argv.includes('--otlp')) {
  await otlpHotPath();
  process.exit(0);
}
const enqueueWay = process.argv.find((a) => a.startsWith('--enqueue'))?.split('=')[1] ?? (process.argv.includes('--enqueue') ? 'rowsBytes' : undefined);
if (enqueueWay) {
  if (enqueueWay !== 'rowsBytes' && enqueueWay !== 'oneString') throw new Error(`--enqueue=rowsBytes or --enqueue=oneString, not ${enqueueWay}`);
  await enqueueHotPath(enqueueWay);
  process.exit(0);
}

const steps = { parse: [] as number[], validate: [] as number[], stages: [] as number[], rows: [] as number[], jobJson: [] as number[] };
let records = 0;
for (let round = 0; round < 8; round++) {
  let t = cpuMs();
  const lap = (step: keyof typeof steps) => {
    const now = cpuMs();
    if (round > 0) steps[step].push(now - t); // round 0 warms up
    t = now;
  };
  const parsed = pool.bodies.map((b) => ({ b, recs: parseRecords(b.body, 'application/json') }));
  lap('parse');
  const valid = parsed.map(({ b, recs }) => ({ b, recs: recs.map((r) => (zodOnly ? recordKinds[b.kind].schema.safeParse(r) : safeParseFast(recordKinds[b.kind].schema, r)).data) }));
  lap('validate');
  const staged = valid.map(({ b, recs }) => ({ b, recs: recs.map((r) => runStages(stages, r as never, { kind: b.kind, apiKeyId: 'k' }, recordKinds[b.kind].schema as never)) }));
  lap('stages');
  const rows = staged.map(({ b, recs }) => recs.map((s) => (s.outcome === 'keep' ? recordKinds[b.kind].mapping.toValues(s.record as never, 'batch') : null)));
  lap('rows');
  // what ingest queues: the rows encoded once (queue format v3), and BullMQ's JSON of the small job
  rows.forEach((r, i) => {
    const kind = parsed[i]!.b.kind;
    JSON.stringify(encodeValues(kind, 'batch', 0, recordKinds[kind].mapping.columns, r.filter((x): x is Cell[] => x !== null)).job);
  });
  lap('jobJson');
  if (round === 0) records = parsed.reduce((n, p) => n + p.recs.length, 0);
}
const per1k = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, +((median(v) / records) * 1000).toFixed(2)]));
const total = +Object.values(per1k).reduce((a, b) => a + b, 0).toFixed(2);
console.log(JSON.stringify({ validation: zodOnly ? 'zod' : 'compiled, zod fallback', cpuMsPer1kRecords: per1k, total, records, kinds: onlyKind ?? 'all' }));

/** The OTLP receiver's CPU per step, per 1,000 spans (each request log as the SERVER span an HTTP instrumentation exports). */
async function otlpHotPath() {
  const { messages } = await import('../ingest/otlp/proto.js');
  const { decodeExport } = await import('../ingest/otlp/decode.js');
  const { mapExport, defaultAttributeMap } = await import('../ingest/otlp/map.js');
  const { prepareRecords } = await import('../ingest/prepare.js');
  const kv = (key: string, v: string | number) => ({ key, value: typeof v === 'number' ? { intValue: v } : { stringValue: v } });
  const logBodies = buildTrafficPool({ logs: 20_000, batchSize: 500 }).bodies.filter((b) => b.kind === 'logs');
  let id = 0;
  const bodies = logBodies.map((b) => {
    type Log = { timestamp: number; method: string; endpoint: string; status_code: number; duration_ms?: number; error?: { code: string; message: string } } & Record<string, unknown>;
    const spans = (JSON.parse(b.body.toString()) as Log[]).map((r) => {
      const start = BigInt(r.timestamp) * 1_000_000n;
      const attributes = [kv('http.request.method', r.method), kv('http.route', r.endpoint), kv('url.path', r.endpoint), kv('http.response.status_code', r.status_code)];
      for (const [field, attr] of [['link_id', 'link.id'], ['external_id', 'link.external_id'], ['institution', 'institution.name'], ['customer_id', 'customer.id']] as const) {
        const value = r[field];
        if (typeof value === 'string' && value) attributes.push(kv(attr, value));
      }
      if (r.error) attributes.push(kv('error.type', r.error.code), kv('error.message', r.error.message));
      const spanId = Buffer.alloc(8);
      spanId.writeUInt32BE(++id, 4);
      const end = start + BigInt(Math.round((r.duration_ms ?? 1) * 1e6));
      return { traceId: Buffer.alloc(16, 1), spanId, name: 'span', kind: 2, startTimeUnixNano: start.toString(), endTimeUnixNano: end.toString(), attributes };
    });
    const request = { resourceSpans: [{ resource: { attributes: [kv('service.name', 'api')] }, scopeSpans: [{ spans }] }] };
    return Buffer.from(messages.traceRequest.encode(messages.traceRequest.fromObject(request)).finish());
  });
  const otlpSteps = { decode: [] as number[], map: [] as number[], prepare: [] as number[] };
  let spans = 0;
  for (let round = 0; round < 8; round++) {
    let t = cpuMs();
    const lap = (step: keyof typeof otlpSteps) => {
      const now = cpuMs();
      if (round > 0) otlpSteps[step].push(now - t);
      t = now;
    };
    const decoded = bodies.map((b) => decodeExport('traces', 'protobuf', b)); // the wire format read by hand, then our model
    lap('decode');
    const mapped = decoded.map((d) => mapExport(d, { attributes: defaultAttributeMap }).byKind.logs!.records);
    lap('map');
    mapped.forEach((records, i) => prepareRecords(records, { kind: 'logs', apiKeyId: 'k', batchId: `b${i}`, receivedAt: 0 }, 10_000, stages));
    lap('prepare');
    if (round === 0) spans = mapped.reduce((n, m) => n + m.length, 0);
  }
  const per1k = Object.fromEntries(Object.entries(otlpSteps).map(([k, v]) => [k, +((median(v) / spans) * 1000).toFixed(2)]));
  console.log(JSON.stringify({ path: 'otlp protobuf SERVER spans', cpuMsPer1kSpans: per1k, total: +Object.values(per1k).reduce((a, b) => a + b, 0).toFixed(2), spans }));
}

/**
 * Encode + SET per 1,000 records and minor page faults per batch, in a private redis-server (AOF
 * fsynced, as ingest's). One encoding per process (`--enqueue=rowsBytes`, ingest's, or
 * `--enqueue=oneString`, the rows as one string as before docs/performance.md, section 37): in one
 * process each leaves the other's memory behind. Alternate the processes, with ingest's flags:
 *   node --max-semi-space-size=64 --initial-old-space-size=128 --import tsx bench/ingest-hot-path.ts --enqueue=oneString
 */
async function enqueueHotPath(way: 'rowsBytes' | 'oneString') {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startLocalRedis } = await import('../scripts/local-redis.js');
  const { producerRedis } = await import('../queue/jobs.js');
  const { rowsBytes } = await import('../queue/job-rows.js');
  const dir = mkdtempSync(join(tmpdir(), 'enqueue-hot-path-'));
  const server = await startLocalRedis({ dir });
  const redis = producerRedis(server.url);
  if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
  const batches = pool.bodies.map((b) =>
    parseRecords(b.body, 'application/json').map((r) => recordKinds[b.kind].mapping.toValues(safeParseFast(recordKinds[b.kind].schema, r).data as never, 'batch')),
  );
  const records = batches.reduce((n, b) => n + b.length, 0);
  const encode = way === 'rowsBytes' ? rowsBytes : (rows: unknown[][]) => (rows.length ? JSON.stringify(rows).slice(1, -1) : '');
  const ms: number[] = [];
  const faults: number[] = [];
  for (let round = 0; round < 9; round++) {
    const u0 = process.resourceUsage();
    // 16 batches in flight at a time, a 64-key working set: ingest's enqueues, not a growing Redis
    for (let i = 0; i < batches.length; i += 16) {
      await Promise.all(batches.slice(i, i + 16).map((rows, j) => redis.set(`rows:${(i + j) % 64}`, encode(rows))));
    }
    const u1 = process.resourceUsage();
    if (round === 0) continue; // warm-up
    ms.push((u1.userCPUTime + u1.systemCPUTime - u0.userCPUTime - u0.systemCPUTime) / 1000);
    faults.push(u1.minorPageFault - u0.minorPageFault);
  }
  redis.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({ path: `encode + SET, ${way}`, records, batches: batches.length, cpuMsPer1kRecords: +((median(ms) / records) * 1000).toFixed(2), faultsPerBatch: +(median(faults) / batches.length).toFixed(2) }),
  );
}
