import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { IngestRuntime } from '../../ingest/runtime.js';
import type { MachineLoad } from './machine-load.js';

/**
 * A fault test file's own data dir, removed after the file with whatever it left running (read
 * when the file ends, so a test may replace the worker it killed): the load stopped, the worker
 * process SIGKILLed, ingest stopped. Without it a failed assertion leaves busy loops behind.
 */
export function faultTestDir(prefix: string, running: () => { load?: MachineLoad; worker?: ChildProcess; ingest?: IngestRuntime }): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(async () => {
    const { load, worker, ingest } = running();
    load?.stop();
    worker?.kill('SIGKILL');
    await ingest?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
