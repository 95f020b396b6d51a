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
