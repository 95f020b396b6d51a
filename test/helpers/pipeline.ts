import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../config/env.js';
import { createLogger } from '../../lib/logger.js';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { startIngest } from '../../ingest/runtime.js';
import { startWorkerRuntime, type WorkerRuntime } from '../../workers/runtime.js';
import { recordKinds, type RecordKind } from '../../schema/records.js';
import { runTmpDir } from './tmp.js';

export interface TestPipeline {
  baseUrl: string;
  /** ingest's admin listener (/healthz, /readyz, /metrics) */
  ingestAdminUrl: string;
  apiKey: string;
  config: Config;
  clickhouse: ClickHouseClient;
  database: string;
  worker: WorkerRuntime;
  post(kind: RecordKind, records: unknown[], headers?: Record<string, string>): Promise<Response>;
  /** Resolves when nothing is queued or being written. */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /** Runs a query and returns its JSON rows. */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

/** Test-only configuration: a private queue prefix and data dir per pipeline (under the run's folder, test/setup/tmp.ts), real Redis from globalSetup. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  const dataDir = runTmpDir('obs-test-ch-');
  return loadConfig({
    REDIS_URL: process.env.REDIS_URL,
    INGEST_API_KEYS: 'test-key-1,test-key-2',
    QUEUE_PREFIX: `t${randomBytes(4).toString('hex')}`,
    CLICKHOUSE_DATA_DIR: join(dataDir, 'clickhouse'),
    PORT: '0',
    HOST: '127.0.0.1',
    QUERY_PORT: '0',
    INGEST_ADMIN_PORT: '0',
    WORKER_ADMIN_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    FLUSH_IDLE_MS: '20',
    FLUSH_MAX_WAIT_MS: '200',
    ...overrides,
  });
}

/** The real ingest app and an in-process worker on an embedded engine: ingest -> queue -> workers -> ClickHouse. */
export async function startTestPipeline(overrides: Record<string, string> = {}): Promise<TestPipeline> {
  const config = testConfig(overrides);
  const logger = createLogger('test', config.LOG_LEVEL);
  const worker = await startWorkerRuntime(config, logger);
  const ingest = await startIngest(config, logger);
  const apiKey = config.INGEST_API_KEYS[0]!;
  const clickhouse = worker.clickhouse;
  return {
    baseUrl: ingest.url,
    ingestAdminUrl: ingest.adminUrl!,
    apiKey,
    config,
    clickhouse,
    database: config.CLICKHOUSE_DATABASE,
    worker,
    post: (kind, records, headers = {}) =>
      fetch(`${ingest.url}${recordKinds[kind].path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify(records),
      }),
    async waitForIdle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const c = await worker.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        if (Object.values(c).every((n) => n === 0)) return;
        if (Date.now() > deadline) throw new Error(`queue not idle after ${timeoutMs} ms: ${JSON.stringify(c)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async rows<T>(sql: string) {
      return (await clickhouse.query({ query: sql, format: 'JSONEachRow' })).json<T>();
    },
    async close() {
      await ingest.stop();
      await worker.stop();
      await clickhouse.close();
      rmSync(join(config.CLICKHOUSE_DATA_DIR, '..'), { recursive: true, force: true });
    },
  };
}
