import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClickHouse, type ClickHouseClient } from '../../clickhouse/client.js';
import { migrate } from '../../clickhouse/migrate.js';
import { loadConfig } from '../../config/env.js';

export interface MigratedEngine {
  /** the temporary directory holding the engine's data (under `ch/`); free for the test's other files */
  dir: string;
  ch: ClickHouseClient;
  /** closes the engine and removes the directory */
  close(): Promise<void>;
}

/** A fresh embedded engine in a temporary directory with every migration applied: what schema-level tests start from. */
export async function openMigratedEngine(name: string, database = 'observability'): Promise<MigratedEngine> {
  const dir = mkdtempSync(join(tmpdir(), `obs-${name}-`));
  const ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
  await migrate(ch, { database });
  return {
    dir,
    ch,
    async close() {
      await ch.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A query's rows and how many rows the engine read for it (the summary's rows_read): what a panel's cost grows with. */
export async function queryWithReadRows<T = Record<string, unknown>>(ch: ClickHouseClient, sql: string): Promise<{ data: T[]; readRows: number }> {
  const body = await (await ch.query({ query: sql, format: 'JSON' })).json<T>();
  return { data: body.data, readRows: Number(body.statistics?.rows_read) };
}
