import { mkdirSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { migrate } from '../clickhouse/migrate.js';

/**
 * The embedded engine opened in this (the benchmark's) process, for the ceiling and the query
 * phase. One engine per process: call this once, after the end-to-end phase's processes are gone.
 */
export interface BenchEngine {
  client: ClickHouseClient;
  connection: ReturnType<typeof createChdbConnection>;
  migrate(database: string): Promise<void>;
  close(): Promise<void>;
}

export function openEngine(dataDir: string): BenchEngine {
  mkdirSync(dataDir, { recursive: true });
  const connection = createChdbConnection({ path: dataDir });
  const client = createClient({ connection: connection as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'] });
  return {
    client,
    connection,
    migrate: async (database) => {
      await migrate(client, { database, rawTtlDays: 90, log: () => {} });
    },
    close: () => client.close(),
  };
}
