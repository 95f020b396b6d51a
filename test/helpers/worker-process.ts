import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/env.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The real worker entry point (workers/main.ts) as a child process, so it can be SIGKILLed. */
export function spawnWorker(config: Config, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'workers', 'main.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: config.REDIS_URL,
      QUEUE_PREFIX: config.QUEUE_PREFIX,
      CLICKHOUSE_DATA_DIR: config.CLICKHOUSE_DATA_DIR,
      CLICKHOUSE_DATABASE: config.CLICKHOUSE_DATABASE,
      QUERY_PORT: '0',
      WORKER_ADMIN_PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      WORKER_LOCK_MS: String(config.WORKER_LOCK_MS),
      FLUSH_IDLE_MS: String(config.FLUSH_IDLE_MS),
      FLUSH_MAX_WAIT_MS: String(config.FLUSH_MAX_WAIT_MS),
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((res) => child.once('exit', (code) => res(code)));
}

/** Resolves when the queue has nothing waiting, running or delayed (and no failed job). */
export async function waitForDrain(queue: import('bullmq').Queue, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'failed');
    if (Object.values(c).every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`queue did not drain: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
