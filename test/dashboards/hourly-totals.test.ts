import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { undeduplicatedInsert } from '../../clickhouse/client.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { openMigratedEngine, queryWithReadRows, type MigratedEngine } from '../helpers/migrated-engine.js';

/**
 * Insights' totals (Requests, Most common errors, Errors per institution, Internal vs institution
 * errors) read the whole hours of their range from request_status_1h (sql/011) and the minutes at
 * its edges from request_status_1m; Most used endpoints from request_endpoints_1h (sql/014) and
 * request_stats_1m. Their answers must be those of the plain sums over
 * request_stats_1m (every dropdown's column, a row per minute): ranges that start and end
 * mid-hour, one shorter than an hour, every rollup branch, and a database migrated before 011
 * (the hourly tables without their older hours and with a partial first hour).
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const now = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR + 17 * MINUTE + 42_300;
const board = committedDashboards().find((b) => b.uid === 'insights')!;
const panels = {
  'Requests': { group: '', sum: 'sum(requests) AS requests', where: '1' },
  'Most common errors': { group: 'status_code, error_code', sum: 'sum(requests) AS errors', where: 'status_code >= 400' },
  'Errors per institution': { group: 'institution', sum: 'sum(requests) AS errors', where: "status_code >= 400 AND institution != ''" },
  'Internal vs institution errors': { group: "if(error_origin = '', 'unknown', error_origin) AS origin", sum: 'sum(requests) AS errors', where: 'status_code >= 400' },
  'Most used endpoints': { group: 'endpoint', sum: 'sum(requests) AS requests', where: '1' },
};

let engine: MigratedEngine;
let ch: ClickHouseClient;
type Row = Record<string, unknown>;

beforeAll(async () => {
  engine = await openMigratedEngine('hourly-totals');
  ch = engine.ch;
  await ch.command({ query: 'USE observability' });
  for (let part = 0; part < 4; part++) {
    await ch.command({
      clickhouse_settings: undeduplicatedInsert,
      query: `INSERT INTO request_logs (request_id, timestamp, method, endpoint, status_code, link_id, institution, source, customer_id, error_code, error_origin, batch_id)
        SELECT concat('r${part}_', toString(number)), fromUnixTimestamp64Milli(toInt64(${now + HOUR} - cityHash64(number, ${part}) % ${8 * DAY})),
          ['GET', 'POST'][1 + number % 2], ['/api/accounts/', '/api/owners/', '/api/links/'][1 + number % 3],
          [200, 201, 400, 428, 500, 502][1 + cityHash64(number, 9) % 6], '', ['bank_a', 'bank_b', 'bank_c', ''][1 + number % 4],
          if(number % 7 = 0, 'dashboard', 'api'), ['customer_1', 'customer_2'][1 + number % 2],
          ['', '', 'bad', 'token', 'oops', 'down'][1 + cityHash64(number, 9) % 6], ['', '', 'internal', 'institution', '', 'institution'][1 + cityHash64(number, 9) % 6], 'gen'
        FROM numbers(50000)`,
    });
  }
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

async function rows(sql: string): Promise<{ data: Row[] }> {
  const data = await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Row>();
  return { data };
}

async function expectPlainSums(fromMs: number, toMs: number, pick: Record<string, string[]>, where: string) {
  for (const [title, p] of Object.entries(panels)) {
    const sql = expandQuery(panelByTitle(board, title).targets![0]!.rawSql, { fromMs, toMs, intervalMs: 5 * MINUTE, variables: boardVariables(board, pick) });
    const reference = `
      SELECT ${p.group ? `${p.group}, ` : ''}${p.sum}
      FROM request_stats_1m
      WHERE minute >= toDateTime(${Math.floor(fromMs / 1000)}) AND minute <= toDateTime(${Math.floor(toMs / 1000)}) AND ${p.where} AND ${where}
      ${p.group ? `GROUP BY ${p.group.replace(/ AS \w+$/, '')}` : ''}`;
    const sorted = (rs: Row[]) => rs.map((r) => JSON.stringify(r)).sort();
    const got = (await rows(sql)).data;
    expect(got.length, title).toBeGreaterThan(0);
    expect(sorted(got), `${title} ${JSON.stringify(pick)}`).toEqual(sorted((await rows(reference)).data));
  }
}

describe('Insights totals from whole hours and edge minutes', () => {
  it('7 days starting and ending mid-hour, as opened and with each kind of filter', async () => {
    const from = now - 7 * DAY + 23 * MINUTE + 5_500;
    await expectPlainSums(from, now, {}, '1');
    await expectPlainSums(from, now, { institution: ['bank_b'], status_code: ['428', '500'] }, "institution = 'bank_b' AND status_code IN (428, 500)");
    await expectPlainSums(from, now, { customer: ['customer_2'] }, "customer_id = 'customer_2'");
    await expectPlainSums(from, now, { endpoint: ['/api/links/'] }, "endpoint = '/api/links/'");
    await expectPlainSums(from, now, { source: ['dashboard'], institution: ['bank_a'] }, "source = 'dashboard' AND institution = 'bank_a'");
  });

  it('a range inside one hour, and one of exactly whole hours', async () => {
    const hour = Math.floor(now / HOUR) * HOUR - 5 * HOUR;
    await expectPlainSums(hour + 10 * MINUTE, hour + 50 * MINUTE, {}, '1');
    await expectPlainSums(hour - 2 * HOUR, hour, {}, '1');
  });

  it('reads the hourly tables for the whole hours and two edges of the minute tables, not their 7 days', async () => {
    // One part each, as merges leave older data: on this small table a granule (8192 rows) per
    // part and edge would otherwise be most of it.
    for (const table of ['request_status_1m', 'request_status_1h']) await ch.command({ query: `OPTIMIZE TABLE ${table} FINAL` });
    const sql = expandQuery(panelByTitle(board, 'Requests').targets![0]!.rawSql, { fromMs: now - 7 * DAY, toMs: now, intervalMs: 5 * MINUTE, variables: boardVariables(board) });
    const read = async (q: string) => (await queryWithReadRows(ch, q)).readRows;
    const minuteRows = await read(`SELECT sum(requests) FROM request_status_1m WHERE minute >= toDateTime(${Math.floor((now - 7 * DAY) / 1000)})`);
    expect(await read(sql)).toBeLessThan(minuteRows / 4);
    await ch.command({ query: 'OPTIMIZE TABLE request_stats_1m FINAL' });
    await ch.command({ query: 'OPTIMIZE TABLE request_endpoints_1h FINAL' });
    const endpoints = expandQuery(panelByTitle(board, 'Most used endpoints').targets![0]!.rawSql, { fromMs: now - 7 * DAY, toMs: now, intervalMs: 5 * MINUTE, variables: boardVariables(board) });
    const statsRows = await read(`SELECT sum(requests) FROM request_stats_1m WHERE minute >= toDateTime(${Math.floor((now - 7 * DAY) / 1000)})`);
    // a third, not a quarter: request_stats_1m's edge granules (8,192 rows, a part per month) are
    // most of what is read here, and a range across a month's end reads them in two parts
    // (41,986 of 166,458 rows on 6 December at 19:52 UTC)
    expect(await read(endpoints)).toBeLessThan(statsRows / 3);
  });

  it('a database migrated before sql/011 and sql/014: hours they lack, and a partial first hour, come from the minutes', async () => {
    const firstKept = Math.floor(now / HOUR) * HOUR - 3 * DAY;
    for (const table of ['request_status_1h', 'request_endpoints_1h']) {
      await ch.command({ query: `ALTER TABLE ${table} DELETE WHERE hour < toDateTime(${firstKept / 1000}) OR (hour = toDateTime(${firstKept / 1000}) AND institution = 'bank_a')`, clickhouse_settings: { mutations_sync: '1' } });
    }
    await expectPlainSums(now - 7 * DAY + 23 * MINUTE, now, {}, '1');
    for (const table of ['request_status_1h', 'request_endpoints_1h']) await ch.command({ query: `TRUNCATE TABLE ${table}` });
    await expectPlainSums(now - 7 * DAY + 23 * MINUTE, now, { institution: ['bank_c'] }, "institution = 'bank_c'");
  });
});
