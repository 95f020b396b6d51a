import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startQueryEndpoint } from '../workers/query-endpoint.js';
import { createLogger } from '../lib/logger.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { listDeadLetters, replayDeadLetters } from '../workers/dead-letters.js';
import { requestLogRow, requestLogSchema, type Row } from '../schema/records.js';
import { enqueueBatch, type BatchJob } from '../queue/jobs.js';
import { encodeRows } from '../queue/job-rows.js';

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
    // The poison job is in ingest's format (v3, rows beside the job); its neighbour in the v2 format
    // a queue from before the upgrade holds (rows inside the job, '\n'-separated): both share one flush.
    const poisonJob = encodeRows('logs', 'batch-poison', Date.now(), rows);
    const redis = new Redis(p.config.REDIS_URL!);
    await enqueueBatch(p.worker.queue, redis, poisonJob, 'poison-job');
    redis.disconnect();
    const n = encodeRows('logs', 'batch-neighbour', Date.now(), [validRow('n-1'), validRow('n-2')]);
    const neighbour: BatchJob = { v: 2, kind: 'logs', batch_id: 'batch-neighbour', received_at: Date.now(), columns: n.job.columns, rows: n.text.toString().replace('],[', ']\n['), count: 2 };
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

  it('is listed and replayed by `npm run dead-letters` while the pipeline runs', async () => {
    // the CLI reaches the engine through the query endpoint, as it does under `npm start`
    const endpoint = await startQueryEndpoint(p.config, createLogger('test', 'silent'));
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/dead-letters.ts', ...args], {
        env: { PATH: process.env.PATH, CLICKHOUSE_DATA_DIR: p.config.CLICKHOUSE_DATA_DIR, REDIS_URL: p.config.REDIS_URL, QUEUE_PREFIX: p.config.QUEUE_PREFIX },
      });
    try {
      const bad: BatchJob = { v: 1, kind: 'logs', batch_id: 'batch-cli', received_at: Date.now(), rows: [{ ...validRow('cli-poison'), status_code: 'x' } as Row] };
      await p.worker.queue.add('logs', bad, { jobId: 'cli-job' });
      await p.waitForIdle();
      const listed = await cli('list');
      expect(listed.stdout).toMatch(/^cli-job:0\t.*\trequest_logs\tbatch batch-cli$/m);
      expect(listed.stdout).toContain('CANNOT_PARSE_INPUT_ASSERTION_FAILED');
      const replayed = await cli('replay', 'cli-job:0');
      expect(replayed.stdout.trim()).toBe('replayed 1 record(s) in 1 job(s)');
      await p.waitForIdle();
      // still poison: refused again under a new id; the first letter is marked replayed
      const after = await cli('list');
      expect(after.stdout).not.toMatch(/^cli-job:0\t/m);
      expect(after.stdout).toMatch(/^replay-[0-9a-f]+-\d+:0\t/m);
      await expect(cli('replay')).rejects.toMatchObject({ stderr: expect.stringContaining('nothing to replay') });
    } finally {
      await endpoint.stop();
    }
  });
});
