import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers this process's CPU priority, every thread included. The worker (and the embedded engine
 * inside it) is throughput work that can wait a few milliseconds; ingest answers producers and
 * cannot. When both share a machine's cores, a nice worker keeps ingest's latency low and takes the
 * CPU ingest leaves.
 *
 * On Linux a nice value belongs to a thread (setpriority on a pid changes only that thread), so
 * every existing thread is reniced; threads started later (the engine's pools) inherit it from the
 * thread that starts them. Elsewhere the process priority is set. Raising niceness needs no privilege.
 */
export function lowerPriority(nice: number, onError: (err: Error) => void = () => {}): void {
  if (nice <= 0) return;
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    tids = [0]; // not Linux: the process
  }
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
    } catch (err) {
      // a thread that ended between the listing and the call
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') onError(err as Error);
    }
  }
}

export type SchedPolicy = 'other' | 'batch' | 'idle';

/**
 * Sets the Linux scheduling policy of every thread of this process (`chrt --all-tasks`); threads
 * started later inherit it from the thread that starts them. `idle` (SCHED_IDLE) runs the thread
 * only when no normal thread of its group wants the core, and a waking normal thread (ingest's)
 * preempts it at once, where a nice thread may first finish its slice; `batch` (SCHED_BATCH) keeps
 * the nice value's share but gives up wake-up preemption of others. Needs no privilege (a process may
 * always lower its own policy). `other` leaves the policy as it is; elsewhere than Linux this is a no-op.
 */
export function setSchedPolicy(policy: SchedPolicy, onError: (err: Error) => void = () => {}): void {
  if (policy === 'other' || process.platform !== 'linux') return;
  const r = spawnSync('chrt', ['--all-tasks', `--${policy}`, '--pid', '0', String(process.pid)], { encoding: 'utf8' });
  if (r.error) onError(r.error);
  else if (r.status !== 0) onError(new Error(`chrt --${policy}: ${r.stderr.trim() || `exit ${r.status}`}`));
}

