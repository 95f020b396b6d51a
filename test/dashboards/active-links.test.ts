import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undeduplicatedInsert, type ClickHouseClient } from '../../clickhouse/client.js';
import { linkLastAccess } from '../../dashboards/shared-sql.js';
import { anyOf, timeFilterMs } from '../../dashboards/sql-filters.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { openMigratedEngine, type MigratedEngine } from '../helpers/migrated-engine.js';

/**
 * Insights / Active links counts link_last_request FINAL (sql/016: one row per link, its newest
 * request) where it grouped link_activity_monthly by link (one row per link and month). Same
 * answers on unmerged rows of both, with the customer and institution dropdowns, over ranges
 * ending now (= links with a request in the range, checked against the raw logs) and in the past
 * (links whose newest request is in the range, as before); and less engine CPU.
 */
const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 20, 12);
const institutions = ['erebor_mx_retail', 'gotham_br_business', 'ofelia_co_retail'];
const customers = ['acme', 'globex'];

let engine: MigratedEngine;
let ch: ClickHouseClient;
const rows = async (sql: string) => (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>();
const board = committedDashboards().find((b) => b.uid === 'insights')!;
const panelSql = panelByTitle(board, 'Active links').targets![0]!.rawSql;
/** The previous query: each link's newest request over its months, then the range. */
const previousSql = `
  SELECT count() AS active_links
  FROM (${linkLastAccess(anyOf('customer_id', 'customer'), anyOf('institution', 'institution'))})
  WHERE ${timeFilterMs('last_accessed_at')}`;

const expand = (sql: string, fromMs: number, toMs: number, pick: Record<string, string[]> = {}) =>
  expandQuery(sql, { fromMs, toMs, intervalMs: 600_000, variables: boardVariables(board, pick) });
const count = async (sql: string) => Number((await rows(sql))[0]!.active_links);

/**
 * `links` links' calls: link n is called `n % 4` times a day on days spread over the 60 days
 * before `now` (some links stop calling weeks ago, some never call), in one insert per call round.
 */
async function insertCalls(firstLink: number, links: number, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await ch.command({
      clickhouse_settings: undeduplicatedInsert,
      query: `
        INSERT INTO request_logs (request_id, timestamp, method, endpoint, status_code, link_id, institution, customer_id, batch_id)
        SELECT concat('req_', toString(n), '_', toString(${round})),
          fromUnixTimestamp64Milli(toInt64(${now} - (n % 7) * 8 * ${DAY} - cityHash64(n, ${round}) % (20 * ${DAY}))),
          'GET', '/api/accounts/', if(n % 5 = 0, 500, 200), concat('lnk_', toString(n)),
          ${JSON.stringify(institutions).replaceAll('"', "'")}[1 + n % 3], ${JSON.stringify(customers).replaceAll('"', "'")}[1 + n % 2], 'round-${round}'
        FROM (SELECT number + ${firstLink} AS n FROM numbers(${links}))
        WHERE n % 11 != 0`,
    });
  }
}

beforeAll(async () => {
  engine = await openMigratedEngine('active-links');
  ch = engine.ch;
  await ch.command({ query: 'USE observability' });
  // rows of one link in several parts of both tables, as between merges
  await ch.command({ query: 'SYSTEM STOP MERGES link_activity_monthly' });
  await ch.command({ query: 'SYSTEM STOP MERGES link_last_request' });
  await insertCalls(0, 3_000, 4);
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

const ranges: [string, number, number][] = [
  ['the last 7 days', now - 7 * DAY, now],
  ['the last 24 hours', now - DAY, now],
  ['the last 30 days', now - 30 * DAY, now],
  ['a past week (30 to 23 days ago)', now - 30 * DAY, now - 23 * DAY],
];
const picks: [string, Record<string, string[]>][] = [
  ['as opened', {}],
  ['a customer', { customer: ['globex'] }],
  ['an institution and a customer', { institution: ['ofelia_co_retail'], customer: ['acme'] }],
];

describe('Active links counts link_last_request FINAL', () => {
  it('holds a link in several unmerged rows (what FINAL must merge)', async () => {
    const [r] = await rows('SELECT count() AS n, uniqExact(link_id) AS links FROM link_last_request');
    expect(Number(r!.n)).toBeGreaterThan(Number(r!.links) * 3);
  });

  for (const [range, fromMs, toMs] of ranges) {
    it.each(picks)(`${range}, %s: the previous query's answer`, async (_pick, pick) => {
      const expected = await count(expand(previousSql, fromMs, toMs, pick));
      expect(expected).toBeGreaterThan(0);
      expect(await count(expand(panelSql, fromMs, toMs, pick))).toBe(expected);
    });
  }

  it.each(ranges.filter(([, , to]) => to === now))('%s, ending now: the links with at least one request in it (raw logs)', async (_range, fromMs, toMs) => {
    const [raw] = await rows(`SELECT uniqExact(link_id) AS n FROM request_logs WHERE timestamp BETWEEN fromUnixTimestamp64Milli(${fromMs}) AND fromUnixTimestamp64Milli(${toMs})`);
    expect(await count(expand(panelSql, fromMs, toMs))).toBe(Number(raw!.n));
  });

  it('a past range counts the links whose newest request is in it, not those called since (the description)', async () => {
    const [fromMs, toMs] = [now - 30 * DAY, now - 23 * DAY];
    const [any] = await rows(`SELECT uniqExact(link_id) AS n FROM request_logs WHERE timestamp BETWEEN fromUnixTimestamp64Milli(${fromMs}) AND fromUnixTimestamp64Milli(${toMs})`);
    expect(await count(expand(panelSql, fromMs, toMs))).toBeLessThan(Number(any!.n));
  });
});

describe('engine CPU at 200,000 links', () => {
  it('the panel costs at most half the CPU of the previous query (merged tables, interleaved runs, medians)', async () => {
    await insertCalls(1_000_000, 200_000, 2);
    await ch.command({ query: 'SYSTEM START MERGES link_activity_monthly' });
    await ch.command({ query: 'SYSTEM START MERGES link_last_request' });
    await ch.command({ query: 'OPTIMIZE TABLE link_activity_monthly FINAL' });
    await ch.command({ query: 'OPTIMIZE TABLE link_last_request FINAL' });
    const [panel, before] = [expand(panelSql, now - 7 * DAY, now), expand(previousSql, now - 7 * DAY, now)];
    expect(await count(panel)).toBe(await count(before));
    // the engine runs in this process: its CPU time is the process's (no merge left running)
    const cpuMs = async (sql: string) => {
      const start = process.cpuUsage();
      await rows(sql);
      const used = process.cpuUsage(start);
      return (used.user + used.system) / 1000;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const times = { panel: [] as number[], before: [] as number[] };
    for (let run = 0; run < 5; run++) {
      times.panel.push(await cpuMs(panel));
      times.before.push(await cpuMs(before));
    }
    console.log(`Active links: engine CPU ${median(times.panel).toFixed(1)} ms, previous query ${median(times.before).toFixed(1)} ms`);
    expect(median(times.panel)).toBeLessThan(median(times.before) / 2);
  }, 300_000);
});
