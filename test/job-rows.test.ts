import { describe, expect, it } from 'vitest';
import { encodeJob, jobRecords, jobRows, lineToRow } from '../queue/job-rows.js';
import { kindNames, recordKinds, type Row } from '../schema/records.js';
import { buildTrafficPool } from '../bench/traffic-pool.js';
import type { BatchJobV1 } from '../queue/jobs.js';

/** Simulator records of every kind, through validation and the row mappers, as ingest queues them. */
const pool = buildTrafficPool({ logs: 2000, batchSize: 500 });
const rowsOf = (kind: (typeof kindNames)[number]): Row[] => {
  const { schema, toRow } = recordKinds[kind];
  return pool.bodies
    .filter((b) => b.kind === kind)
    .flatMap((b) => JSON.parse(b.body.toString()) as unknown[])
    .map((r) => toRow(schema.parse(r) as never) as Row);
};

describe('job rows (queue format v2)', () => {
  for (const kind of kindNames) {
    it(`gives back exactly the rows ingest encoded: ${kind}`, () => {
      const rows = rowsOf(kind);
      expect(rows.length).toBeGreaterThan(10);
      const job = encodeJob(kind, 'b-1', 1, rows);
      expect(job.count).toBe(rows.length);
      expect(job.rows.split('\n')).toHaveLength(rows.length);
      expect(jobRecords(JSON.parse(JSON.stringify(job)))).toEqual(rows);
    });
  }

  it('keeps strings with newlines, quotes, backslashes and non-ASCII on one line each', () => {
    const nasty = 'line1\nline2\r\n"quoted" \\ \u2028 çã 🏦 \u0000';
    const rows: Row[] = [
      { request_id: nasty, status_code: 500, duration_ms: null },
      { request_id: 'plain', status_code: 200, duration_ms: 1.5 },
    ];
    const job = encodeJob('logs', 'b"\n', 1, rows);
    const lines = job.rows.split('\n');
    expect(lines).toHaveLength(2);
    expect(lineToRow(job.columns, lines[0]!)).toEqual(rows[0]);
    expect(JSON.parse(lines[0]!).at(-1)).toBe('b"\n');
  });

  it('turns a v1 job into the same insert text as the v2 job for the same rows, so both share a flush', () => {
    const rows = rowsOf('logs').slice(0, 50);
    const v1: BatchJobV1 = { v: 1, kind: 'logs', batch_id: 'b-2', received_at: 1, rows };
    expect(jobRows(v1)).toEqual(jobRows(encodeJob('logs', 'b-2', 1, rows)));
  });

  it('gives a v1 dead-letter row its job batch id, not the one it carried', () => {
    const v1: BatchJobV1 = { v: 1, kind: 'logs', batch_id: 'replay-1', received_at: 1, rows: [{ request_id: 'x', batch_id: 'old' }] };
    const { columns, text } = jobRows(v1);
    expect(columns).toEqual(['request_id', 'batch_id']);
    expect(JSON.parse(text)).toEqual(['x', 'replay-1']);
  });

  it('is smaller in Redis than the v1 job for the same rows', () => {
    const rows = rowsOf('logs');
    const v1 = JSON.stringify({ v: 1, kind: 'logs', batch_id: 'b', received_at: 1, rows });
    const v2 = JSON.stringify(encodeJob('logs', 'b', 1, rows));
    expect(v2.length).toBeLessThan(v1.length * 0.8);
  });

  it('handles an empty job', () => {
    const job = encodeJob('links', 'b', 1, []);
    expect(jobRows(job)).toEqual({ columns: ['batch_id'], text: '', count: 0 });
    expect(jobRecords(job)).toEqual([]);
  });
});
