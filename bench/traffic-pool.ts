import { randomUUID } from 'node:crypto';
import { DemoTraffic } from '../demo/traffic.js';
import { kindNames, recordKinds, type RecordKind, type Row } from '../schema/records.js';

/**
 * Realistic traffic (demo/traffic.ts: logs, the webhook attempts and link changes they cause),
 * serialised once into request bodies of `batchSize` records per kind, as the producer SDK
 * batches them. The load generator cycles through the bodies, so serialising never competes
 * with the pipeline for CPU; the engine ceiling inserts the very same records as rows.
 */
export interface RequestBody {
  kind: RecordKind;
  path: string;
  records: number;
  body: Buffer;
}

export interface TrafficPool {
  bodies: RequestBody[];
  records: number;
  recordsByKind: Record<RecordKind, number>;
  /** Mean request body size in bytes. */
  meanBodyBytes: number;
  /** The records as the worker inserts them (validated and mapped like ingest does, batch_id added), per raw table. */
  rowsByTable(): Map<string, (Row & { batch_id: string })[]>;
}

export function buildTrafficPool(o: { logs: number; batchSize: number; seed?: number }): TrafficPool {
  const now = Date.now();
  const traffic = new DemoTraffic(o.seed ?? 7, 2000, now);
  const hour = 3_600_000;
  const records = Object.fromEntries(kindNames.map((k) => [k, []])) as unknown as Record<RecordKind, Record<string, unknown>[]>;
  records.links.push(...traffic.linkStates(now - hour));
  // Spread over the last hour in slices, like a producer shipping as traffic happens.
  const slices = 20;
  for (let s = 0; s < slices; s++) {
    const from = now - hour + (s * hour) / slices;
    const b = traffic.batch(from, from + hour / slices, Math.ceil(o.logs / slices));
    records.logs.push(...b.logs);
    // Webhook retries are scheduled minutes ahead; keep them in the past-or-near window ingest accepts.
    records['webhook-attempts'].push(...b.webhookAttempts);
    records.links.push(...b.links);
  }
  const bodies: RequestBody[] = [];
  for (const kind of kindNames) {
    const list = records[kind];
    for (let i = 0; i < list.length; i += o.batchSize) {
      const chunk = list.slice(i, i + o.batchSize);
      bodies.push({ kind, path: recordKinds[kind].path, records: chunk.length, body: Buffer.from(JSON.stringify(chunk)) });
    }
  }
  // Interleave kinds the way concurrent producers would send them.
  bodies.sort((a, b) => hashOf(a.body) - hashOf(b.body));
  const total = bodies.reduce((n, b) => n + b.records, 0);
  return {
    bodies,
    records: total,
    recordsByKind: Object.fromEntries(kindNames.map((k) => [k, records[k].length])) as Record<RecordKind, number>,
    meanBodyBytes: Math.round(bodies.reduce((n, b) => n + b.body.length, 0) / bodies.length),
    rowsByTable() {
      const out = new Map<string, (Row & { batch_id: string })[]>();
      for (const kind of kindNames) {
        const { schema, mapping, table } = recordKinds[kind];
        const rows: (Row & { batch_id: string })[] = [];
        let batchId = randomUUID();
        records[kind].forEach((record, i) => {
          if (i % o.batchSize === 0) batchId = randomUUID();
          const parsed = schema.safeParse(record);
          if (parsed.success) rows.push({ ...mapping.toRow(parsed.data as never), batch_id: batchId });
        });
        out.set(table, rows);
      }
      return out;
    },
  };
}

/** A cheap deterministic shuffle key. */
function hashOf(b: Buffer): number {
  let h = 2166136261;
  for (let i = 0; i < Math.min(b.length, 256); i++) h = Math.imul(h ^ b[b.length - 1 - i]!, 16777619);
  return h >>> 0;
}
