import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh directory under the test run's folder (test/setup/tmp.ts), removed with that folder when
 * the run ends: nothing is left in the system's tmp, even by a test that fails or is killed before
 * its own cleanup. Outside a vitest run (no folder) it is made in the system's tmp.
 */
export function runTmpDir(prefix: string): string {
  return mkdtempSync(join(process.env.OBS_TEST_TMP ?? tmpdir(), prefix));
}
