import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { listDeadLetters, replayDeadLetters } from '../workers/dead-letters.js';
import { requestLogRow, requestLogSchema, type Row } from '../schema/records.js';
import type { BatchJob } from '../queue/jobs.js';

let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline();
});
afterAll(async () => {
  await p?.close();
});

const validRow = (id: string) =>
  requestLogRow(
    requestLogSchema.parse({ request_id: id, timestamp: '2026-11-20T10:00:00Z', method: 'GET', endpoint: '/api/owners/', status_code: 200 }),
  );

describe('a poison record', () => {
  it('is isolated: the rest of its batch and the jobs beside it land, it goes to the dead letters, and replays', async () => {
    // Ingest validation keeps such rows out; a job from an older producer or a bug can still carry one.
    const rows: Row[] = Array.from({ length: 9 }, (_, i) => validRow(`ok-${i}`));
    rows.splice(4, 0, { ...validRow('poison'), status_code: 'abc' });
    const poisonJob: BatchJob = { v: 1, kind: 'logs', batch_id: 'batch-poison', received_at: Date.now(), rows };
    const neighbour: BatchJob = { v: 1, kind: 'logs', batch_id: 'batch-neighbour', received_at: Date.now(), rows: [validRow('n-1'), validRow('n-2')] };
    await p.worker.queue.add('logs', poisonJob, { jobId: 'poison-job' });
    await p.worker.queue.add('logs', neighbour, { jobId: 'neighbour-job' });
    await p.waitForIdle();

    const landed = await p.rows<{ request_id: string }>(`SELECT request_id FROM ${p.database}.request_logs ORDER BY request_id`);
    expect(landed.map((r) => r.request_id)).toEqual([...Array.from({ length: 9 }, (_, i) => `ok-${i}`), 'n-1', 'n-2'].sort());
    const rollup = await p.rows<{ n: number }>(`SELECT sum(requests) AS n FROM ${p.database}.request_stats_1m`);
    expect(Number(rollup[0]!.n)).toBe(11);

    const letters = await listDeadLetters(p.clickhouse, p.database);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ id: 'poison-job:4', kind: 'logs', table_name: 'request_logs', batch_id: 'batch-poison' });
    expect(JSON.parse(letters[0]!.row).request_id).toBe('poison');
    expect(letters[0]!.error).toMatch(/^Code: 27 \(CANNOT_PARSE_INPUT_ASSERTION_FAILED\)/);

    // the producer bug is fixed: correct the stored row, then replay it
    const fixed = { ...letters[0]!, row: JSON.stringify({ ...JSON.parse(letters[0]!.row), status_code: 200 }) };
    expect(await replayDeadLetters(p.clickhouse, p.database, p.worker.queue, [fixed])).toEqual({ replayed: 1, jobs: 1 });
    await p.waitForIdle();
    const poison = await p.rows<{ n: number }>(`SELECT count() AS n FROM ${p.database}.request_logs WHERE request_id = 'poison'`);
    expect(Number(poison[0]!.n)).toBe(1);
    expect(await listDeadLetters(p.clickhouse, p.database)).toHaveLength(0);
  });
});
