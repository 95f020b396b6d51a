import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedEngineSettings, openEmbeddedEngine, EMBEDDED_ENGINE_DEFAULTS } from '../clickhouse/client.js';
import { loadConfig } from '../config/env.js';

/** CLICKHOUSE_ENGINE_SETTINGS: the real embedded engine runs with the server settings it was opened with. */
const dir = mkdtempSync(join(tmpdir(), 'engine-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** CAP_SYS_NICE (bit 23 of CapEff): without it the engine leaves thread priorities alone (ClickHouse's OSThreadNiceValue). */
const canSetNice = (() => {
  try {
    const hex = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 23n)) !== 0n;
  } catch {
    return false;
  }
})();

/** Running threads of this process by name and nice value (fields 3 and 19 of /proc/self/task/<tid>/stat). */
function runningThreads(): { name: string; nice: number }[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[0] === 'R' ? [{ name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), nice: Number(fields[16]) }] : [];
    } catch {
      return [];
    }
  });
}

describe('the embedded engine opened with server settings', () => {
  it('parses CLICKHOUSE_ENGINE_SETTINGS and refuses what is not name=value', () => {
    expect(loadConfig({ CLICKHOUSE_ENGINE_SETTINGS: 'background_pool_size=3, os_threads_nice_value_merge_mutate=19' }).CLICKHOUSE_ENGINE_SETTINGS).toEqual({
      background_pool_size: '3',
      os_threads_nice_value_merge_mutate: '19',
    });
    expect(() => loadConfig({ CLICKHOUSE_ENGINE_SETTINGS: 'background_pool_size' })).toThrow(/CLICKHOUSE_ENGINE_SETTINGS.*not name=value/);
    expect(embeddedEngineSettings({ background_pool_size: '3' })).toEqual({ ...EMBEDDED_ENGINE_DEFAULTS, background_pool_size: '3' });
  });

  it('refuses a setting the engine does not take as a server setting, naming it', () => {
    // max_threads is a query setting: given at open it would reach one session, not the client's
    expect(() => openEmbeddedEngine(join(dir, 'db'), { background_pool_size: '3', max_threads: '1' })).toThrow(/max_threads=1 \(engine: no such server setting\)/);
  });

  it("applies them to the engine the client's own connection queries, and merge threads run at the nice value given", async () => {
    const engine = openEmbeddedEngine(join(dir, 'db'), embeddedEngineSettings({ background_pool_size: '3' }));
    try {
      expect(engine.settings).toEqual({ os_threads_nice_value_merge_mutate: '19', background_pool_size: '3' });
      const read = await engine.client.query({
        query: "SELECT name, value, changed FROM system.server_settings WHERE name IN ('background_pool_size', 'os_threads_nice_value_merge_mutate') ORDER BY name",
        format: 'JSONEachRow',
      });
      expect(await read.json()).toEqual([
        { name: 'background_pool_size', value: '3', changed: 1 },
        { name: 'os_threads_nice_value_merge_mutate', value: '19', changed: 1 },
      ]);
      if (!canSetNice) return; // the engine applies thread nice values only with CAP_SYS_NICE

      // Parts inserted one after another make the background pool merge; sample who runs meanwhile.
      await engine.client.command({ query: 'CREATE DATABASE IF NOT EXISTS t' });
      await engine.client.command({ query: 'CREATE TABLE t.parts (a UInt64, s String) ENGINE = MergeTree ORDER BY a' });
      const merging = new Set<number>();
      let sampling = true;
      const sample = () => {
        for (const t of runningThreads()) if (t.name === 'MergeMutate') merging.add(t.nice);
        if (sampling) setTimeout(sample, 2);
      };
      sample();
      for (let i = 0; i < 30 && !merging.has(19); i++) {
        await engine.client.command({ query: `INSERT INTO t.parts SELECT number, repeat(toString(number), 20) FROM numbers(${i * 200_000}, 200000)` });
      }
      for (let waited = 0; waited < 10_000 && !merging.has(19); waited += 100) await new Promise((r) => setTimeout(r, 100));
      sampling = false;
      expect([...merging], 'nice values of MergeMutate threads seen running').toContain(19);
    } finally {
      await engine.close();
    }
  });
});
