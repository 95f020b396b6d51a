import { existsSync, readFileSync } from 'node:fs';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { Config } from '../config/env.js';
import { clickhouseMode, createClickHouse, type ClickHouseClient } from './client.js';
import { queryEndpointFile, type QueryEndpointInfo } from '../workers/query-endpoint.js';

export type CliVia = 'server' | 'query-endpoint' | 'data-directory';

/**
 * A client for command-line tools. Server mode: CLICKHOUSE_URL. Embedded mode: when a worker holds
 * the data directory, its loopback query endpoint; otherwise the data directory itself.
 */
export async function cliClickHouse(config: Config): Promise<{ client: ClickHouseClient; via: CliVia }> {
  if (clickhouseMode(config) === 'server') return { client: createClickHouse(config), via: 'server' };
  const file = queryEndpointFile(config.CLICKHOUSE_DATA_DIR);
  if (existsSync(file)) {
    const info = JSON.parse(readFileSync(file, 'utf8')) as QueryEndpointInfo;
    const client = createClient({
      url: info.url,
      username: 'default',
      password: info.password,
      request_timeout: 300_000,
      log: { level: ClickHouseLogLevel.ERROR },
    });
    const ping = await client.ping();
    if (ping.success) return { client, via: 'query-endpoint' };
    await client.close();
  }
  try {
    return { client: createClickHouse(config), via: 'data-directory' };
  } catch (err) {
    throw new Error(
      `cannot open ${config.CLICKHOUSE_DATA_DIR}: ${(err as Error).message}. ` +
        'Another process holds it and its query endpoint does not answer; is the worker still starting?',
      { cause: err },
    );
  }
}
