import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Session } from 'chdb';
import { createChdbConnection } from 'chdb/connection';
import type { Config } from '../config/env.js';

export type ClickHouseMode = 'embedded' | 'server';

export function clickhouseMode(config: Pick<Config, 'CLICKHOUSE_URL'>): ClickHouseMode {
  return config.CLICKHOUSE_URL ? 'server' : 'embedded';
}

type ClientConfig = Pick<
  Config,
  'CLICKHOUSE_URL' | 'CLICKHOUSE_USER' | 'CLICKHOUSE_PASSWORD' | 'CLICKHOUSE_DATABASE' | 'CLICKHOUSE_DATA_DIR'
> &
  Partial<Pick<Config, 'CLICKHOUSE_ENGINE_SETTINGS'>>;

/**
 * Server settings the embedded engine opens with (CLICKHOUSE_ENGINE_SETTINGS adds or replaces).
 * The engine shares a small machine's cores with ingest, whose latency matters more than when a
 * merge ends: merge threads run at the lowest priority (docs/performance.md, section 34).
 */
export const EMBEDDED_ENGINE_DEFAULTS: Readonly<Record<string, string>> = {
  os_threads_nice_value_merge_mutate: '19',
};

/** `--name=value` arguments of a chdb connection that opens the engine with `settings`. */
export function engineArgs(settings: Record<string, string>): string[] {
  return Object.entries(settings).map(([n, v]) => `--${n}=${v}`);
}

/** The defaults with `overrides` on top: what the engine is opened with. */
export function embeddedEngineSettings(overrides: Record<string, string> = {}): Record<string, string> {
  return { ...EMBEDDED_ENGINE_DEFAULTS, ...overrides };
}

export type ChdbConnection = ReturnType<typeof createChdbConnection>;

export interface EmbeddedEngine {
  connection: ChdbConnection;
  client: ClickHouseClient;
  /** the server settings it runs with, as the engine reports them (system.server_settings) */
  settings: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Opens the embedded engine on `path` with server `settings`. chdb takes server settings only as
 * arguments of the first connection to a directory (they make the process's one engine), and its
 * @clickhouse/client connection has no way to pass them: a session opened first with them holds
 * the engine, the client's connection joins it (same path, same engine), and the holder closes last.
 * Every setting is read back from system.server_settings: a query setting (which would apply to
 * the holder's session only), an unknown name or a value the engine did not take is an error.
 */
export function openEmbeddedEngine(path: string, settings: Record<string, string>): EmbeddedEngine {
  mkdirSync(path, { recursive: true });
  const names = Object.keys(settings);
  const holder = new Session(path, { connectionArgs: engineArgs(settings) });
  try {
    const applied = readServerSettings(holder, names);
    const wrong = names.filter((n) => applied[n] !== settings[n]);
    if (wrong.length) {
      throw new Error(
        `embedded engine settings not applied as server settings: ${wrong.map((n) => `${n}=${settings[n]} (engine: ${applied[n] ?? 'no such server setting'})`).join(', ')}. ` +
          'A server setting applies only when the engine opens: if this process opened it before (another chdb Session on the same directory), open that one with them too (engineArgs).',
      );
    }
    const connection = createChdbConnection({ path });
    // chdb implements the Connection contract of @clickhouse/client-common; the client bundles its own
    // copy of those types, which differ only in declaration identity.
    const client = createClient({ connection: connection as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'] });
    const close = client.close.bind(client);
    let closed = false;
    const closeAll = async () => {
      if (closed) return;
      closed = true;
      await close();
      holder.close();
    };
    // whoever closes the client (the worker's runtime, a test) closes the holder too
    client.close = closeAll;
    return { connection, client, settings: applied, close: closeAll };
  } catch (err) {
    holder.close();
    throw err;
  }
}

function readServerSettings(session: Session, names: string[]): Record<string, string> {
  if (names.length === 0) return {};
  const list = names.map((n) => `'${n.replace(/[\\']/g, '')}'`).join(',');
  const text = session.query(`SELECT name, value FROM system.server_settings WHERE name IN (${list})`, 'TSV').toString();
  return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]));
}

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
  return openEmbeddedEngine(resolve(config.CLICKHOUSE_DATA_DIR), embeddedEngineSettings(config.CLICKHOUSE_ENGINE_SETTINGS)).client;
}

/**
 * Settings for an insert that must not be deduplicated. The token is emptied too: the embedded
 * connection applies a query's settings with SET, so they stay on its session, and a token left
 * there by an earlier insert would drop this insert's blocks as repeats.
 */
export const undeduplicatedInsert = { insert_deduplicate: 0, insert_deduplication_token: '' } as const;

export type { ClickHouseClient };
