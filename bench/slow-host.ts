import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `--slow-host`: makes this machine slower on purpose, so the bench's latency and throughput targets
 * can be checked on a host as slow or as busy as the slowest one they must hold on, whatever
 * machine runs the bench.
 * - `load:N`: N competing busy processes at nice 0 (plain CPU spinners), each in a session of its
 *   own like another tenant's program: where the kernel groups scheduling by session (autogroup),
 *   they compete with the bench's session as a whole, not with each of its processes (the nice
 *   worker would otherwise get ~10% of what a spinner gets). Works everywhere. Each one also ends
 *   itself at a deadline, so none outlives a killed bench.
 * - `quota:F`: the bench process, and so every process it starts (load generator, redis-server,
 *   ingest, worker and its engine, the engine phases), in a CPU cgroup limited to F cores
 *   (CFS quota). Needs a writable cpu controller (cgroup v1 `cpu`, or v2 with `cpu` enabled) and root;
 *   where there is none the option fails with the reason, before anything is measured.
 */
export type SlowHostSpec = { kind: 'load'; processes: number } | { kind: 'quota'; cores: number };

/** What the report records: the option as given and what it did on this host. */
export interface SlowHostReport {
  spec: string;
  kind: SlowHostSpec['kind'];
  /** load: the busy processes' pids; quota: the cgroup and its quota/period in microseconds */
  detail: string;
  /** CPU seconds the competing load took (load), or times the cgroup was throttled (quota) */
  loadCpuSeconds?: number;
  throttled?: { periods: number; throttledPeriods: number; throttledSeconds: number };
}

export interface SlowHost {
  report: SlowHostReport;
  /** Ends the slowing (kills the load, leaves and removes the cgroup); safe to call twice. */
  stop(): Promise<void>;
}

/** `--slow-host` alone: the strength chosen for this bench (docs/performance.md (section 32)). */
export const DEFAULT_SLOW_HOST = 'load:1';

export function parseSlowHost(value: string): SlowHostSpec {
  const m = /^(load|quota):(\d+(?:\.\d+)?)$/.exec(value);
  if (!m) throw new Error(`--slow-host must be load:N (N busy processes) or quota:F (F cores of CPU quota), not '${value}'`);
  const n = Number(m[2]);
  if (m[1] === 'load') {
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--slow-host=load:N needs a whole N from 1 to 64, not ${m[2]}`);
    return { kind: 'load', processes: n };
  }
  if (!(n >= 0.1 && n <= 64)) throw new Error(`--slow-host=quota:F needs F cores between 0.1 and 64, not ${m[2]}`);
  return { kind: 'quota', cores: n };
}

export const formatSlowHost = (s: SlowHostSpec) => (s.kind === 'load' ? `load:${s.processes}` : `quota:${s.cores}`);

/** Starts the slowing; `maxMs` bounds a competing load even if the bench never stops it. */
export async function startSlowHost(spec: SlowHostSpec, o: { maxMs: number }): Promise<SlowHost> {
  return spec.kind === 'load' ? startLoad(spec.processes, o.maxMs) : startQuota(spec.cores);
}

// A spinner that checks its deadline now and then: bounded in time without a timer it could starve.
const SPINNER = `const end = Date.now() + Number(process.argv[1]); let x = 0;
while (Date.now() < end) { for (let i = 0; i < 1e6; i++) x = (x * 31 + i) | 0; }`;

async function startLoad(processes: number, maxMs: number): Promise<SlowHost> {
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  // A bench that exits or is interrupted must not leave its load behind (the deadline is the backstop).
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    process.kill(process.pid, signal);
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  for (let i = 0; i < processes; i++) {
    children.push(spawn(process.execPath, ['-e', SPINNER, String(maxMs)], { stdio: 'ignore', detached: true }));
  }
  await Promise.all(children.map((c) => new Promise<void>((resolve, reject) => c.once('spawn', resolve).once('error', reject))));
  const report: SlowHostReport = {
    spec: `load:${processes}`,
    kind: 'load',
    detail: `${processes} busy process(es) at nice 0 in their own session (autogroup ${autogroup()}), pids ${children.map((c) => c.pid).join(',')}, each ends itself after ${Math.round(maxMs / 1000)} s at most`,
  };
  let stopped = false;
  return {
    report,
    async stop() {
      if (stopped) return;
      stopped = true;
      report.loadCpuSeconds = Math.round(children.reduce((s, c) => s + cpuSecondsOf(c.pid!), 0) * 10) / 10;
      const exits = children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()))));
      killAll();
      await Promise.all(exits);
      process.off('exit', killAll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function autogroup(): 'on' | 'off' | 'unknown' {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1' ? 'on' : 'off';
  } catch {
    return 'unknown';
  }
}

function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Where this host's CPU controller is, and how to set a quota there. */
interface CpuController {
  version: 1 | 2;
  /** the directory the new cgroup goes under */
  parent: string;
  /** the cgroup this process is in now, to return to */
  home: string;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The writable CPU controller, or why there is none (cgroup v1's `cpu` or v2's unified hierarchy). */
export function findCpuController(root = CGROUP_ROOT, selfCgroup = '/proc/self/cgroup'): CpuController | string {
  let lines: string[];
  try {
    lines = readFileSync(selfCgroup, 'utf8').trim().split('\n');
  } catch {
    return 'no /proc/self/cgroup (not Linux)';
  }
  // v1: "N:cpu,cpuacct:/path" (or "N:cpu:/path"); v2: "0::/path"
  const v1 = lines.map((l) => l.split(':')).find(([, ctrl]) => ctrl!.split(',').includes('cpu'));
  if (v1) {
    const mount = [join(root, 'cpu'), join(root, 'cpu,cpuacct')].find((d) => existsSync(join(d, 'cpu.cfs_quota_us')));
    if (!mount) return `cgroup v1 cpu controller not mounted under ${root}`;
    const home = join(mount, v1[2]!);
    return { version: 1, parent: home, home };
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2) {
    const home = join(root, v2.slice(3));
    let controllers = '';
    try {
      controllers = readFileSync(join(home, 'cgroup.subtree_control'), 'utf8');
    } catch {
      /* reported below */
    }
    if (!controllers.split(/\s+/).includes('cpu')) return `cgroup v2 without the cpu controller enabled for children of ${home} (cgroup.subtree_control)`;
    return { version: 2, parent: home, home };
  }
  return 'no cpu cgroup controller for this process';
}

async function startQuota(cores: number): Promise<SlowHost> {
  const ctl = findCpuController();
  if (typeof ctl === 'string') throw new Error(`--slow-host=quota:${cores} cannot apply here: ${ctl}. Use --slow-host=load:N instead.`);
  const dir = join(ctl.parent, `obs-bench-slow-${process.pid}`);
  const periodUs = 100_000;
  const quotaUs = Math.round(cores * periodUs);
  try {
    mkdirSync(dir);
    if (ctl.version === 1) {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
    } else {
      writeFileSync(join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`);
    }
    // this process (all its threads) moves in; everything it starts afterwards is born inside
    writeFileSync(join(dir, 'cgroup.procs'), String(process.pid));
  } catch (err) {
    try {
      rmdirSync(dir);
    } catch {
      /* never made */
    }
    throw new Error(`--slow-host=quota:${cores} cannot apply here: ${(err as Error).message}. Use --slow-host=load:N instead.`, { cause: err });
  }
  const leave = () => {
    try {
      writeFileSync(join(ctl.home, 'cgroup.procs'), String(process.pid));
      rmdirSync(dir); // fails while a child still lives in it: it is then left for the host to clean
    } catch {
      /* best effort at exit */
    }
  };
  process.on('exit', leave);
  const report: SlowHostReport = {
    spec: `quota:${cores}`,
    kind: 'quota',
    detail: `cgroup v${ctl.version} ${dir}: ${quotaUs} us of CPU per ${periodUs} us (the bench and every process it starts)`,
  };
  let stopped = false;
  return {
    report,
    async stop() {
      if (stopped) return;
      stopped = true;
      report.throttled = readThrottling(dir, ctl.version);
      process.off('exit', leave);
      leave();
    },
  };
}

function readThrottling(dir: string, version: 1 | 2): SlowHostReport['throttled'] {
  try {
    const stat = Object.fromEntries(
      readFileSync(join(dir, 'cpu.stat'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string]),
    );
    const throttledSeconds = version === 1 ? Number(stat.throttled_time) / 1e9 : Number(stat.throttled_usec) / 1e6;
    return { periods: Number(stat.nr_periods), throttledPeriods: Number(stat.nr_throttled), throttledSeconds: Math.round(throttledSeconds * 10) / 10 };
  } catch {
    return undefined;
  }
}
