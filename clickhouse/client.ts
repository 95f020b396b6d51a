import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { Config } from '../config/env.js';

export type ClickHouseMode = 'embedded' | 'server';

export function clickhouseMode(config: Pick<Config, 'CLICKHOUSE_URL'>): ClickHouseMode {
  return config.CLICKHOUSE_URL ? 'server' : 'embedded';
}

type ClientConfig = Pick<
  Config,
  'CLICKHOUSE_URL' | 'CLICKHOUSE_USER' | 'CLICKHOUSE_PASSWORD' | 'CLICKHOUSE_DATABASE' | 'CLICKHOUSE_DATA_DIR'
>;

/**
 * One @clickhouse/client for both modes. Embedded: the chdb engine in this process, on
 * CLICKHOUSE_DATA_DIR (only one process may open a directory). Server: CLICKHOUSE_URL.
 * Queries name their tables with the database, because the embedded connection has no default database.
 */
export function createClickHouse(config: ClientConfig): ClickHouseClient {
  if (config.CLICKHOUSE_URL) {
    return createClient({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      // No default database: every statement names it, and the first migration creates it.
      request_timeout: 60_000,
      clickhouse_settings: { date_time_output_format: 'iso' },
    });
  }
  const path = resolve(config.CLICKHOUSE_DATA_DIR);
  mkdirSync(path, { recursive: true });
  // chdb implements the Connection contract of @clickhouse/client-common; the client bundles its own
  // copy of those types, which differ only in declaration identity.
  const connection = createChdbConnection({ path }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  return createClient({ connection });
}

/**
 * Settings for an insert that must not be deduplicated. The token is emptied too: the embedded
 * connection applies a query's settings with SET, so they stay on its session, and a token left
 * there by an earlier insert would drop this insert's blocks as repeats.
 */
export const undeduplicatedInsert = { insert_deduplicate: 0, insert_deduplication_token: '' } as const;

export type { ClickHouseClient };
