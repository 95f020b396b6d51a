import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../config/env.js';

describe('configuration', () => {
  it('has working defaults: embedded ClickHouse in ./.data/clickhouse, database observability', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 8080, CLICKHOUSE_DATA_DIR: './.data/clickhouse', CLICKHOUSE_DATABASE: 'observability', RAW_TTL_DAYS: 90 });
    expect(c.CLICKHOUSE_URL).toBeUndefined();
    expect(loadConfig({ INGEST_API_KEYS: ' a, b ,' }).INGEST_API_KEYS).toEqual(['a', 'b']);
  });

  it('names the variable in one line when a value is bad', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^invalid configuration: PORT="eighty": /);
    expect(() => loadConfig({ CLICKHOUSE_URL: 'not a url' })).toThrow(/CLICKHOUSE_URL/);
    expect(() => loadConfig({ CLICKHOUSE_DATABASE: 'drop table' })).toThrow(/CLICKHOUSE_DATABASE.*plain identifier/);
  });

  it('stops a process with that line and exit code 2', async () => {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'ingest/server.ts'], {
      env: { PATH: process.env.PATH, WORKER_CONCURRENCY: '0' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 2 });
    expect((r as { stderr: string }).stderr.trim().split('\n')).toEqual([expect.stringMatching(/^invalid configuration: WORKER_CONCURRENCY="0": /)]);
  });
});

describe('documentation', () => {
  it('the README names every configuration variable', async () => {
    const { readFileSync } = await import('node:fs');
    const { configKeys } = await import('../config/env.js');
    const readme = readFileSync('README.md', 'utf8');
    expect(configKeys.filter((k) => !readme.includes(`\`${k}\``))).toEqual([]);
  });
});
