import { embeddedEngineSettings, openEmbeddedEngine, type ChdbConnection, type ClickHouseClient } from '../clickhouse/client.js';
import { migrate } from '../clickhouse/migrate.js';

/**
 * The embedded engine opened in this (the benchmark's) process, for the ceiling and the query
 * phase. One engine per process: call this once, after the end-to-end phase's processes are gone.
 * It opens as the worker's does (clickhouse/client.ts, with the same CLICKHOUSE_ENGINE_SETTINGS),
 * so the ceiling and the pipeline it is compared with run the same engine.
 */
export interface BenchEngine {
  client: ClickHouseClient;
  connection: ChdbConnection;
  /** the server settings it runs with, read back from the engine */
  settings: Record<string, string>;
  migrate(database: string): Promise<void>;
  close(): Promise<void>;
}

export function openEngine(dataDir: string, overrides: Record<string, string> = {}): BenchEngine {
  const engine = openEmbeddedEngine(dataDir, embeddedEngineSettings(overrides));
  return {
    client: engine.client,
    connection: engine.connection,
    settings: engine.settings,
    migrate: async (database) => {
      await migrate(engine.client, { database, rawTtlDays: 90, exclusive: true, log: () => {} });
    },
    close: engine.close,
  };
}
