import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startMachineLoad } from '../test/faults/machine-load.js';

/**
 * Repeats fault test files under CPU and disk load, to show a failure too rare for one run.
 * A guarantee must hold on a busy machine, not only an idle one: this keeps busy-loop children and
 * an fsyncing disk writer running (test/faults/machine-load.ts, bounded by --max-minutes) while
 * each file runs --rounds times, interleaved (a, b, a, b...), and prints runs × failures per file.
 *
 *   npx tsx scripts/fault-soak.ts --rounds=10 --busy=1 test/faults/worker-kill.test.ts test/two-workers.test.ts
 *
 * Each run's output goes to --log-dir (a failure's output is what to read); extra environment for
 * the runs (FAULT_REPEAT=...) is passed through as usual.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '10' },
    busy: { type: 'string', default: '1' },
    'max-minutes': { type: 'string', default: '60' },
    'log-dir': { type: 'string' },
  },
});
if (positionals.length === 0) throw new Error('name the test files to repeat');
const rounds = Number(values.rounds);
const logDir = values['log-dir'] ?? mkdtempSync(join(tmpdir(), 'fault-soak-logs-'));
mkdirSync(logDir, { recursive: true });
const loadDir = mkdtempSync(join(tmpdir(), 'fault-soak-disk-'));
const load = startMachineLoad({ dir: loadDir, busyLoops: Number(values.busy), maxMs: Number(values['max-minutes']) * 60_000 });
process.on('exit', () => {
  load.stop();
  rmSync(loadDir, { recursive: true, force: true });
});

const results = new Map(positionals.map((f) => [f, { runs: 0, failures: 0, seconds: [] as number[], failedRounds: [] as number[] }]));
const summary = join(logDir, 'summary.txt');
writeFileSync(summary, '');
for (let round = 1; round <= rounds; round++) {
  for (const file of positionals) {
    const started = Date.now();
    const load1 = loadavg()[0]!.toFixed(2);
    const run = spawnSync('npx', ['vitest', 'run', file], { encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 });
    const seconds = (Date.now() - started) / 1000;
    const r = results.get(file)!;
    r.runs++;
    r.seconds.push(seconds);
    const ok = run.status === 0;
    if (!ok) {
      r.failures++;
      r.failedRounds.push(round);
    }
    const log = join(logDir, `${file.replace(/[/.]/g, '_')}-${round}.log`);
    writeFileSync(log, `${run.stdout}\n${run.stderr}`);
    const line = `round ${round} ${file}: ${ok ? 'pass' : `FAIL (exit ${run.status}, ${log})`} in ${seconds.toFixed(0)} s, load average at start ${load1}`;
    appendFileSync(summary, `${line}\n`);
    console.log(line);
  }
}

console.log('\n| test file | runs | failures | seconds per run (min–max) |\n| --- | --- | --- | --- |');
for (const [file, r] of results) {
  const s = r.seconds;
  console.log(`| ${file} | ${r.runs} | ${r.failures}${r.failures ? ` (rounds ${r.failedRounds.join(', ')})` : ''} | ${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)} |`);
}
console.log(`logs: ${logDir}`);
// exit now: the load children would otherwise keep this process alive until --max-minutes ('exit' stops them)
process.exit([...results.values()].some((r) => r.failures > 0) ? 1 : 0);
