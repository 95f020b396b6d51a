import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchReport } from '../bench/report.js';

// Smoke test only: `npm run bench -- --quick` runs every phase and writes a well-formed report.
// Timings depend on the machine and whatever else runs on it, so none is asserted.
const run = promisify(execFile);

describe('npm run bench -- --quick', () => {
  it('runs every phase and writes a well-formed report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'obs-bench-test-'));
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', `--out=${out}`], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 280_000,
      });
      const report = JSON.parse(readFileSync(join(out, 'latest-quick.json'), 'utf8')) as BenchReport;
      expect(report.mode).toBe('quick');
      expect(report.machine.cores).toBeGreaterThan(0);
      expect(report.express!.tinyBody.requestsPerSecond).toBeGreaterThan(0);
      expect(report.engine!.engineRowsPerSecond).toBeGreaterThan(0);
      // the engine's CPU with the merges its inserts caused counts at least its inserts' CPU
      expect(report.engine!.engineCpuMsPer1kWithMerges).toBeGreaterThanOrEqual(report.engine!.engineCpuMsPer1k);
      expect(report.summary[1]!.figure).toMatch(/^half rate: pipeline CPU per 1k records .* engine CPU per 1k rows with its merges$/);
      const e2e = report.endToEnd!;
      expect(e2e.steps.length).toBeGreaterThan(0);
      expect(e2e.sustainedRecordsPerSecond).toBeGreaterThan(0);
      expect(e2e.atHalfRate.freshnessMs!.batches).toBeGreaterThan(0);
      expect(Number.isFinite(e2e.atHalfRate.ingestLatencyMs.p99)).toBe(true);
      // half rate is measured after the ramp's merges and a warm-up that no figure counts
      expect(e2e.atHalfRate.warmupSeconds).toBe(1);
      expect(e2e.atHalfRate.seconds).toBeGreaterThan(3.5);
      expect(e2e.atHalfRate.seconds).toBeLessThan(4.5);
      expect(e2e.beforeHalfRate.waitedSeconds).toBeGreaterThanOrEqual(0);
      expect(stdout).toContain('waited for the ramp');
      // the queue cap holds: 429 once Redis is at QUEUE_MAX_BYTES, and the backlog all lands
      const cap = report.queueCap!;
      expect(cap.backpressure429).toBeGreaterThan(0);
      expect(cap.acceptedRecords).toBeGreaterThan(0);
      // ingest reads Redis memory at most every 250 ms, so requests in that window may pass it
      expect(cap.redisMaxMiB).toBeLessThanOrEqual(cap.capBytesMiB + 24);
      expect(cap.allLanded).toBe(true);
      // the OTLP path's rate next to the JSON path's: the same request logs, every one landed both ways
      const otlp = report.otlp!;
      expect(otlp.otlp.records).toBe(otlp.json.records);
      expect([otlp.json.rowsVisible, otlp.otlp.rowsVisible]).toEqual([otlp.json.records, otlp.otlp.records]);
      expect(otlp.otlp.visibleRecordsPerSecond).toBeGreaterThan(0);
      expect(stdout).toContain('OTLP /otlp/v1/traces');
      const queries = report.queries![0]!;
      expect(queries.queries.length).toBeGreaterThan(20);
      for (const q of queries.queries) expect(Number.isFinite(q.p95Ms), q.name).toBe(true);
      expect(queries.queries.some((q) => q.name.startsWith('alert /'))).toBe(true);
      for (const row of report.summary) expect(row.figure).toBeTruthy();
      expect(stdout).toContain('| figure');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
