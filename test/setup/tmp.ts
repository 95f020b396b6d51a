import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// One folder for the run's engine data directories (test/helpers/pipeline.ts testConfig): a test
// that kills a worker or fails before its own cleanup leaves nothing behind in the system's tmp.
let dir: string | undefined;

export function setup() {
  if (process.env.OBS_TEST_TMP) return;
  dir = mkdtempSync(join(tmpdir(), 'obs-test-run-'));
  process.env.OBS_TEST_TMP = dir;
}

export function teardown() {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
