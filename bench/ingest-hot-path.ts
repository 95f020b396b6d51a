// Per-step CPU of ingest's hot path (parse, validate, stages, row mapping, job JSON) over the bench
// traffic, no HTTP or Redis: `npx tsx bench/ingest-hot-path.ts`. Median-free, so run it a few times.
import { buildTrafficPool } from './traffic-pool.js';
import { recordKinds } from '../schema/records.js';
import { configuredStages, runStages } from '../ingest/stages.js';
import { parseRecords } from '../ingest/body.js';
import { safeParseFast } from '../schema/fast-parse.js';

const pool = buildTrafficPool({ logs: 20_000, batchSize: 500 });
const stages = configuredStages();
const t = { parse: 0, zod: 0, stages: 0, row: 0, job: 0 };
let records = 0;
for (let rep = 0; rep < 6; rep++) {
  for (const b of pool.bodies) {
    const { schema, toRow } = recordKinds[b.kind];
    let t0 = performance.now();
    const recs = parseRecords(b.body, 'application/json');
    let t1 = performance.now(); if (rep > 0) t.parse += t1 - t0;
    const parsed = recs.map((r) => safeParseFast(schema, r));
    t0 = performance.now(); if (rep > 0) t.zod += t0 - t1;
    const staged = parsed.map((p) => runStages(stages, p.data as never, { kind: b.kind, apiKeyId: 'k' }, schema as never));
    t1 = performance.now(); if (rep > 0) t.stages += t1 - t0;
    const rows = staged.map((s) => (s.outcome === 'keep' ? toRow(s.record as never) : null));
    t0 = performance.now(); if (rep > 0) t.row += t0 - t1;
    JSON.stringify({ v: 1, rows });
    t1 = performance.now(); if (rep > 0) t.job += t1 - t0;
    if (rep > 0) records += recs.length;
  }
}
const per1k = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, +(v / records * 1000).toFixed(2)]));
console.log('ms per 1k records', per1k, 'total', +(Object.values(t).reduce((a, b) => a + b) / records * 1000).toFixed(2), 'records', records, 'kinds', pool.recordsByKind);
