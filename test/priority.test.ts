import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** WORKER_NICE: every thread of the worker yields, including those the engine starts later. */
describe.runIf(existsSync('/proc/self/task'))('lowerPriority', () => {
  it('renices the process and the threads it starts afterwards', () => {
    // A child: lowers itself to 7, then starts threads (a worker_thread, and the libuv pool via crypto),
    // and prints every thread's nice value (field 19 of /proc/<tid>/stat).
    const script = `
      import { lowerPriority } from ${JSON.stringify(join(root, 'lib/priority.ts'))};
      import { Worker } from 'node:worker_threads';
      import { readdirSync, readFileSync } from 'node:fs';
      import { pbkdf2 } from 'node:crypto';
      lowerPriority(7);
      const w = new Worker('setTimeout(() => {}, 2000)', { eval: true });
      await new Promise((r) => pbkdf2('x', 'y', 1000, 32, 'sha256', r));
      await new Promise((r) => setTimeout(r, 300));
      const nice = readdirSync('/proc/self/task').map((t) => Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
      console.log(JSON.stringify(nice));
      await w.terminate();
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const nice = JSON.parse(out.trim().split('\n').pop()!) as number[];
    expect(nice.length).toBeGreaterThan(5);
    expect(nice.every((n) => n === 7), `nice per thread: ${nice.join(',')}`).toBe(true);
  });
});
