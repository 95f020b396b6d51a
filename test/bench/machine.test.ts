import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processCpuSeconds } from '../../bench/machine.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('processCpuSeconds', () => {
  // Redis rewrites its AOF in a forked child: the CPU a process spends in children it has waited
  // for is its own cost (the end-to-end report's CPU per 1k records), not free.
  it("counts the CPU of the children a process has waited for, as Redis's AOF rewrite", async () => {
    // a shell that runs a busy child for ~0.6 s, waits for it, then idles
    const sh = spawn('sh', ['-c', 'timeout 0.6 sh -c "while :; do :; done"; sleep 30'], { stdio: 'ignore' });
    try {
      const pid = sh.pid!;
      const deadline = Date.now() + 20_000;
      while (processCpuSeconds(pid) < 0.4 && Date.now() < deadline) await sleep(100);
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const own = (Number(fields[11]) + Number(fields[12])) / 100;
      expect(own).toBeLessThan(0.1);
      expect(processCpuSeconds(pid)).toBeGreaterThanOrEqual(0.4);
    } finally {
      sh.kill('SIGKILL');
    }
  });

  it('answers NaN for a process that is gone', () => {
    expect(processCpuSeconds(2 ** 22 + 12345)).toBeNaN();
  });
});
