import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../bench/options.js';
import { findCpuController, parseSlowHost, startSlowHost } from '../../bench/slow-host.js';
import { runTmpDir } from '../helpers/tmp.js';

const root = join(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** user + system CPU seconds of a process (/proc/<pid>/stat fields 14 and 15) */
const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

describe('--slow-host option', () => {
  it('parses load:N and quota:F, takes a default strength, and refuses anything else with the forms it takes', () => {
    expect(parseSlowHost('load:2')).toEqual({ kind: 'load', processes: 2 });
    expect(parseSlowHost('quota:1.3')).toEqual({ kind: 'quota', cores: 1.3 });
    expect(parseOptions(['--only=e2e', '--slow-host']).slowHost?.kind).toBe('load');
    expect(parseOptions(['--only=e2e', '--slow-host=quota:0.5']).slowHost).toEqual({ kind: 'quota', cores: 0.5 });
    expect(parseOptions(['--only=e2e']).slowHost).toBeUndefined();
    for (const bad of ['load:0', 'load:1.5', 'quota:0', 'cpu:2', 'load', '']) expect(() => parseSlowHost(bad)).toThrow(/load:N .*quota:F|load:N needs|quota:F needs/);
  });

  it('says why a CPU quota cannot apply where no cpu controller is writable', () => {
    const dir = runTmpDir('cg-');
    // cgroup v2 whose parent did not enable cpu for its children (a common container)
    mkdirSync(join(dir, 'svc'));
    writeFileSync(join(dir, 'svc', 'cgroup.subtree_control'), 'memory pids\n');
    writeFileSync(join(dir, 'self-v2'), '0::/svc\n');
    expect(findCpuController(dir, join(dir, 'self-v2'))).toMatch(/cgroup v2 without the cpu controller/);
    // cgroup v1 listed but not mounted
    writeFileSync(join(dir, 'self-v1'), '3:cpu,cpuacct:/x\n1:memory:/\n');
    expect(findCpuController(dir, join(dir, 'self-v1'))).toMatch(/v1 cpu controller not mounted/);
    // v1 mounted
    mkdirSync(join(dir, 'cpu', 'x'), { recursive: true });
    writeFileSync(join(dir, 'cpu', 'cpu.cfs_quota_us'), '-1');
    expect(findCpuController(dir, join(dir, 'self-v1'))).toEqual({ version: 1, parent: join(dir, 'cpu', 'x'), home: join(dir, 'cpu', 'x') });
    expect(findCpuController(dir, join(dir, 'missing'))).toMatch(/not Linux/);
  });

  it.runIf(existsSync('/proc/self/stat'))('load:N runs N busy processes that take CPU, and stop() ends them', async () => {
    const slow = await startSlowHost({ kind: 'load', processes: 2 }, { maxMs: 60_000 });
    const pids = [...slow.report.detail.matchAll(/pids (\d+(?:,\d+)*)/g)][0]![1]!.split(',').map(Number);
    expect(pids).toHaveLength(2);
    const before = pids.map(cpuSeconds);
    await sleep(1000);
    const used = pids.map((p, i) => cpuSeconds(p) - before[i]!);
    // each spins: on a shared 2-core machine it still gets a visible share of a core
    for (const u of used) expect(u).toBeGreaterThan(0.05);
    await slow.stop();
    expect(slow.report.loadCpuSeconds).toBeGreaterThan(0.1);
    for (const p of pids) expect(alive(p)).toBe(false);
    await slow.stop(); // twice is harmless
  });

  it('a competing load ends itself at its deadline even if the bench never stops it', () => {
    // a child starts a load with a 1.5 s deadline and exits at once without stopping it (a killed bench)
    const script = `
      import { startSlowHost } from ${JSON.stringify(join(root, 'bench/slow-host.ts'))};
      const s = await startSlowHost({ kind: 'load', processes: 1 }, { maxMs: 1500 });
      console.log(/pids (\\d+)/.exec(s.report.detail)[1]);
      process.reallyExit(0);
    `;
    const pid = Number(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }).trim());
    expect(alive(pid)).toBe(true);
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) execFileSync('sleep', ['0.2']);
    expect(alive(pid)).toBe(false);
  });

  const ctl = findCpuController();
  it.runIf(typeof ctl !== 'string' && process.getuid?.() === 0)('quota:F holds the bench and its children to F cores, and leaves no cgroup behind', () => {
    // In a child (this test process stays where it is): 0.3 cores of quota, two spinning children for 2 s.
    const script = `
      import { startSlowHost } from ${JSON.stringify(join(root, 'bench/slow-host.ts'))};
      import { spawn } from 'node:child_process';
      import { existsSync, readFileSync } from 'node:fs';
      const s = await startSlowHost({ kind: 'quota', cores: 0.3 }, { maxMs: 10_000 });
      const dir = /cgroup v\\d (\\S+):/.exec(s.report.detail)[1];
      const t0 = Date.now();
      // each spinner prints the CPU seconds it got in its 2 s of wall time
      const spin = 'const e = Date.now() + 2000; while (Date.now() < e) {} const u = process.cpuUsage(); console.log((u.user + u.system) / 1e6)';
      const kids = [0, 1].map(() => spawn(process.execPath, ['-e', spin], { stdio: ['ignore', 'pipe', 'inherit'] }));
      await new Promise((r) => setTimeout(r, 300));
      const inside = kids.every((k) => readFileSync(dir + '/cgroup.procs', 'utf8').split('\\n').includes(String(k.pid)));
      const cpuS = await Promise.all(kids.map((k) => new Promise((r) => { let t = ''; k.stdout.on('data', (c) => (t += c)); k.on('exit', () => r(Number(t))); })));
      await s.stop();
      console.log(JSON.stringify({ wallS: (Date.now() - t0) / 1000, cpuS: cpuS[0] + cpuS[1], inside, throttled: s.report.throttled, leftBehind: existsSync(dir) }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { wallS: number; cpuS: number; inside: boolean; throttled: { throttledPeriods: number }; leftBehind: boolean };
    expect(r.inside).toBe(true);
    expect(r.throttled.throttledPeriods).toBeGreaterThan(5);
    // two spinners for 2 s want 4 CPU s (or whatever a busy machine leaves); at 0.3 cores they get
    // about 0.6 s, plus the node start-up before the quota bites
    expect(r.cpuS).toBeLessThan(0.3 * 2 + 0.4);
    expect(r.leftBehind).toBe(false);
  });
});
