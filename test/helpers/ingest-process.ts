import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/env.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The real ingest entry point (ingest/server.ts) as a child process, so it can be SIGKILLed. */
export function spawnIngest(config: Config, port: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(root, 'ingest', 'server.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      REDIS_URL: config.REDIS_URL,
      QUEUE_PREFIX: config.QUEUE_PREFIX,
      INGEST_API_KEYS: config.INGEST_API_KEYS.join(','),
      CLICKHOUSE_DATA_DIR: config.CLICKHOUSE_DATA_DIR,
      PORT: String(port),
      HOST: '127.0.0.1',
      INGEST_ADMIN_PORT: '-1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

export async function waitUntilListening(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(`${url}/healthz`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not come up`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
