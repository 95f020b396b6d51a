import { execFileSync, spawnSync } from 'node:child_process';
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

/** WORKER_SCHED=idle: every worker thread runs SCHED_IDLE, the engine's pools started afterwards included. */
const hasChrt = spawnSync('chrt', ['--version']).status === 0;
describe.runIf(existsSync('/proc/self/task') && hasChrt)('setSchedPolicy', () => {
  it('puts every thread, and the threads the embedded engine starts afterwards, on SCHED_IDLE', () => {
    // A child: sets its policy, then opens the real engine and makes it insert and merge (its insert
    // pipelines and merge pool start now), and prints every thread's policy (field 41 of its stat).
    const script = `
      import { setSchedPolicy } from ${JSON.stringify(join(root, 'lib/priority.ts'))};
      import { openEmbeddedEngine } from ${JSON.stringify(join(root, 'clickhouse/client.ts'))};
      import { readdirSync, readFileSync } from 'node:fs';
      import { runTmpDir } from ${JSON.stringify(join(root, 'test/helpers/tmp.ts'))};
      import { join } from 'node:path';
      setSchedPolicy('idle', (err) => { console.error(err.message); process.exit(2); });
      const engine = openEmbeddedEngine(join(runTmpDir('sched-'), 'db'), {});
      await engine.client.command({ query: 'CREATE DATABASE t' });
      await engine.client.command({ query: 'CREATE TABLE t.x (a UInt64) ENGINE = MergeTree ORDER BY a' });
      for (let i = 0; i < 12; i++) await engine.client.command({ query: 'INSERT INTO t.x SELECT number FROM numbers(' + i * 100000 + ', 100000)' });
      await new Promise((r) => setTimeout(r, 500));
      const threads = readdirSync('/proc/self/task').map((t) => {
        const s = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
        return { name: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), policy: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[38]) };
      });
      console.log(JSON.stringify(threads));
      await engine.close();
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const threads = JSON.parse(out.trim().split('\n').pop()!) as { name: string; policy: number }[];
    const names = new Set(threads.map((t) => t.name));
    expect(names.has('MergeMutate'), `threads: ${[...names].join(',')}`).toBe(true);
    const SCHED_IDLE = 5;
    expect(threads.filter((t) => t.policy !== SCHED_IDLE), 'threads not on SCHED_IDLE').toEqual([]);
  });
});
