import { describe, expect, it } from 'vitest';
import { compactRows, encodeRows, inlineJobRows, rowObjects, rowsBytes, rowToObject, splitRows, type JobRows } from '../queue/job-rows.js';
import { kindNames, recordKinds, type Row } from '../schema/records.js';
import { buildTrafficPool } from '../bench/traffic-pool.js';
import type { BatchJobV1, BatchJobV2 } from '../queue/jobs.js';

/** Simulator records of a kind and its example, through validation and the row mappers, as ingest queues them. */
const pool = buildTrafficPool({ logs: 2000, batchSize: 500 });
const rowsOf = (kind: (typeof kindNames)[number]): Row[] => {
  const { schema, mapping, example } = recordKinds[kind];
  return [...pool.bodies.filter((b) => b.kind === kind).flatMap((b) => JSON.parse(b.body.toString()) as unknown[]), example].map(
    (r) => mapping.toRow(schema.parse(r) as never) as Row,
  );
};
/** What the worker reads back from Redis for a v3 job. */
const stored = (e: ReturnType<typeof encodeRows>): JobRows => ({ columns: e.job.columns, text: e.text, count: e.job.count });

describe('job rows (queue format v3)', () => {
  for (const kind of kindNames) {
    it(`gives back exactly the rows ingest encoded: ${kind}`, () => {
      const rows = rowsOf(kind);
      // every simulated record (the simulator makes some kinds only) and the example
      expect(rows.length).toBe(pool.recordsByKind[kind] + 1);
      const e = encodeRows(kind, 'b-1', 1, rows);
      expect(e.job).toMatchObject({ v: 3, kind, batch_id: 'b-1', count: rows.length });
      expect(e.job.columns.at(-1)).toBe('batch_id');
      expect(splitRows(stored(e))).toHaveLength(rows.length);
      expect(rowObjects(stored(e))).toEqual(rows);
    });
  }

  it('keeps the job itself small: the rows are not in it', () => {
    expect(pool.recordsByKind.logs).toBeGreaterThan(1000);
    const e = encodeRows('logs', 'b', 1, rowsOf('logs'));
    expect(e.text.length).toBeGreaterThan(100_000);
    expect(JSON.stringify(e.job).length).toBeLessThan(400);
  });

  it('keeps strings with newlines, quotes, commas, brackets, backslashes and non-ASCII inside their row', () => {
    const nasty = 'line1\nline2\r\n"quoted" \\ ],[ , \u2028 çã 🏦 \u0000';
    const rows: Row[] = [
      { request_id: nasty, status_code: 500, duration_ms: null },
      { request_id: 'plain', status_code: 200, duration_ms: 1.5 },
    ];
    const e = encodeRows('logs', 'b"\n', 1, rows);
    expect(e.text.includes('\n')).toBe(false);
    const split = splitRows(stored(e));
    expect(split).toHaveLength(2);
    expect(rowToObject(e.job.columns, split[0]!)).toEqual(rows[0]);
    expect(JSON.parse(split[0]!).at(-1)).toBe('b"\n');
    expect(split.join(',')).toBe(e.text.toString());
  });

  it('encodes in chunks the very bytes one JSON.stringify of all rows gives, at any row count and with non-ASCII', () => {
    const logs = rowsOf('logs').map((r) => Object.values(r));
    const wide = ['çã 🏦 \u2028 "q" \\', 'x'.repeat(70_000), 1.5, null, true];
    // chunk edges (64 rows) and rows long enough that a chunk passes 128 KiB
    for (const n of [0, 1, 63, 64, 65, 128, 129, 500]) {
      const rows = logs.slice(0, n).map((r, i) => (i % 7 === 3 ? [...r, ...wide] : r));
      expect(rows).toHaveLength(n);
      const oneString = rows.length ? JSON.stringify(rows).slice(1, -1) : '';
      expect(rowsBytes(rows).equals(Buffer.from(oneString))).toBe(true);
    }
  });

  it('turns v1 and v2 jobs into the same insert text as the v3 job for the same rows, so all share a flush', () => {
    const rows = rowsOf('logs').slice(0, 50);
    const e = encodeRows('logs', 'b-2', 1, rows);
    const v1: BatchJobV1 = { v: 1, kind: 'logs', batch_id: 'b-2', received_at: 1, rows };
    // v2 (session 3's format) kept the text inside the job, one row per line
    const v2: BatchJobV2 = { v: 2, kind: 'logs', batch_id: 'b-2', received_at: 1, columns: e.job.columns, rows: splitRows(stored(e)).join('\n'), count: 50 };
    expect(inlineJobRows(v1)).toEqual(stored(e));
    expect(inlineJobRows(v2)).toEqual(stored(e));
  });

  it('gives a v1 dead-letter row its job batch id, not the one it carried', () => {
    const v1: BatchJobV1 = { v: 1, kind: 'logs', batch_id: 'replay-1', received_at: 1, rows: [{ request_id: 'x', batch_id: 'old' }] };
    const { columns, text } = inlineJobRows(v1);
    expect(columns).toEqual(['request_id', 'batch_id']);
    expect(JSON.parse(text.toString())).toEqual(['x', 'replay-1']);
  });

  it('is smaller in Redis than the v1 job for the same rows', () => {
    const rows = rowsOf('logs');
    const v1 = JSON.stringify({ v: 1, kind: 'logs', batch_id: 'b', received_at: 1, rows });
    const e = encodeRows('logs', 'b', 1, rows);
    expect(e.text.length + JSON.stringify(e.job).length).toBeLessThan(v1.length * 0.7);
  });

  it('hands back text that is not JSON as one row, for the engine to refuse and dead-letter', () => {
    expect(splitRows({ columns: ['a'], text: Buffer.from('["x"],garbage'), count: 2 })).toEqual(['["x"],garbage']);
  });

  it('handles empty rows', () => {
    const e = encodeRows('links', 'b', 1, []);
    expect(e).toEqual({ job: { v: 3, kind: 'links', batch_id: 'b', received_at: 1, columns: ['batch_id'], count: 0 }, text: Buffer.alloc(0) });
    expect(splitRows(stored(e))).toEqual([]);
    expect(compactRows([])).toEqual({ columns: [], text: Buffer.alloc(0), count: 0 });
  });
});
