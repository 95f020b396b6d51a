// CPU of each step of ingest's hot path (parse, validate, stages, row mapping, job JSON) over the
// bench traffic, without HTTP or Redis: `npx tsx bench/ingest-hot-path.ts [--zod]`.
// Each step runs over the whole pool at once and is timed in process CPU (all threads, GC
// included), 7 rounds, median: less sensitive to other load on the machine than wall time.
// --zod validates with zod alone (the compiled parser off), for before/after figures;
// --kind=K times one record kind alone.
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
