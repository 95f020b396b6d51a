import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { undeduplicatedInsert } from '../../clickhouse/client.js';
import { linkLastAccess } from '../../dashboards/shared-sql.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { openMigratedEngine, type MigratedEngine } from '../helpers/migrated-engine.js';

/**
 * Insights' "Active links" counts the links with a month row of link_activity_lookup whose last
 * request is in the range (no GROUP BY per link). Its answer must be the one of the per-link query
 * it replaced (each link's newest request, then the range) when the range ends now, as the
 * dashboard opens: on unmerged rows, links active in several months and days, links whose last
 * request is just before the range, and the customer and institution dropdowns. For a range in the
 * past it must also count a link that had a request in the range and more after it (the old query
 * missed those: their newest request is after the range).
 */
const DAY = 86_400_000;
const now = Date.now();
const board = committedDashboards().find((b) => b.uid === 'insights')!;
const activeSql = panelByTitle(board, 'Active links').targets![0]!.rawSql;

let engine: MigratedEngine;
let ch: ClickHouseClient;
const ms = (t: number) => `fromUnixTimestamp64Milli(toInt64(${t}))`;

async function insertRequests(prefix: string, count: number, link: string, timestamp: string): Promise<void> {
  await ch.command({
    clickhouse_settings: undeduplicatedInsert,
    query: `INSERT INTO request_logs (request_id, timestamp, method, endpoint, status_code, link_id, external_id, institution, source, customer_id, batch_id)
      SELECT concat('${prefix}_', toString(number)), ${timestamp}, 'GET', '/api/accounts/', 200, ${link}, '',
        ['bank_a', 'bank_b', 'bank_c'][1 + cityHash64(${link}) % 3], 'api', ['customer_1', 'customer_2'][1 + cityHash64(${link}) % 2], '${prefix}'
      FROM numbers(${count})`,
  });
}

const count = async (sql: string) => Number(((await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>())[0] ?? {}).n ?? -1);

function panelSql(fromMs: number, toMs: number, pick: Record<string, string[]> = {}): string {
  return expandQuery(activeSql, { fromMs, toMs, intervalMs: 600_000, variables: boardVariables(board, pick) }).replace('AS active_links', 'AS n');
}

/** The replaced formulation: each link's newest request over all its months, then the range. */
function previousSql(fromMs: number, toMs: number, where: string[] = []): string {
  return `SELECT count() AS n FROM (${linkLastAccess(...where)}) WHERE last_accessed_at >= ${ms(fromMs)} AND last_accessed_at <= ${ms(toMs)}`;
}

/** Links with a request in [from, to], from the raw logs: what the description promises. */
const truthSql = (fromMs: number, toMs: number, where: string[] = []) =>
  `SELECT uniqExact(link_id) AS n FROM request_logs WHERE link_id != '' AND timestamp >= ${ms(fromMs)} AND timestamp <= ${ms(toMs)}${where.map((w) => ` AND ${w}`).join('')}`;

beforeAll(async () => {
  engine = await openMigratedEngine('active-links');
  ch = engine.ch;
  await ch.command({ query: 'USE observability' });
  // merges stopped: the panel must be right on partial rows, as a live table holds them
  await ch.command({ query: 'SYSTEM STOP MERGES' });
  // 3,000 links active over 70 days (three or four months), in several inserts: each link gets
  // rows in many months and partial rows within a month
  for (let i = 0; i < 6; i++) {
    await insertRequests(`spread${i}`, 4_000, `concat('lnk_', toString(cityHash64(number, ${i}) % 3000))`, ms(now) + ` - toIntervalMillisecond(cityHash64(number, ${i + 10}) % ${70 * DAY})`);
  }
  // links whose last request is a second before a 1-day range, and links only active in that range
  await insertRequests('edge', 50, "concat('edge_', toString(number))", `${ms(now - DAY - 1000)}`);
  await insertRequests('recent', 40, "concat('recent_', toString(number))", `${ms(now - DAY / 2)} + toIntervalSecond(number)`);
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

describe('Active links', () => {
  const ranges: [string, number][] = [
    ['1 day', DAY],
    ['7 days', 7 * DAY],
    ['30 days', 30 * DAY],
    ['90 days', 90 * DAY],
  ];
  it.each(ranges)('range ending now, %s: the per-link query\'s answer and the raw logs\' answer', async (_, span) => {
    const [fromMs, toMs] = [now - span, now + 1000];
    const answer = await count(panelSql(fromMs, toMs));
    expect(answer).toBeGreaterThan(0);
    expect(answer).toBe(await count(previousSql(fromMs, toMs)));
    expect(answer).toBe(await count(truthSql(fromMs, toMs)));
  });

  it('the edge links: a request a second before the range does not count, one inside does', async () => {
    const [fromMs, toMs] = [now - DAY, now + 1000];
    const inRange = await count(`${panelSql(fromMs, toMs)}`);
    const withEdge = await count(panelSql(fromMs - 2000, toMs));
    // widening the range by 2 s takes in exactly the 50 edge links (no other request falls there)
    expect(withEdge - inRange).toBe(await count(`SELECT uniqExact(link_id) AS n FROM request_logs WHERE timestamp >= ${ms(fromMs - 2000)} AND timestamp < ${ms(fromMs)}`));
    expect(withEdge - inRange).toBeGreaterThanOrEqual(50);
  });

  it.each([
    ['a customer', { customer: ['customer_2'] }, ["customer_id = 'customer_2'"]],
    ['an institution', { institution: ['bank_c'] }, ["institution = 'bank_c'"]],
    ['both', { customer: ['customer_1'], institution: ['bank_a', 'bank_b'] }, ["customer_id = 'customer_1'", "institution IN ('bank_a', 'bank_b')"]],
  ] as [string, Record<string, string[]>, string[]][])('dropdowns: %s', async (_, pick, where) => {
    const [fromMs, toMs] = [now - 7 * DAY, now + 1000];
    const answer = await count(panelSql(fromMs, toMs, pick));
    expect(answer).toBeGreaterThan(0);
    expect(answer).toBe(await count(previousSql(fromMs, toMs, where)));
    expect(answer).toBe(await count(truthSql(fromMs, toMs, where)));
  });

  it('a range in the past counts links that were also active after it, which the per-link query missed', async () => {
    const [fromMs, toMs] = [now - 20 * DAY, now - 19 * DAY];
    const answer = await count(panelSql(fromMs, toMs));
    const previous = await count(previousSql(fromMs, toMs));
    const truth = await count(truthSql(fromMs, toMs));
    expect(previous).toBeLessThan(truth);
    expect(answer).toBeGreaterThan(previous);
    // a month row's last request may itself be after the range while an earlier one of that month
    // is inside it: the panel never counts more than the truth, and counts at least the per-link answer
    expect(answer).toBeLessThanOrEqual(truth);
  });

  it('reads no month before the range\'s (partition pruning on month)', async () => {
    const sql = panelSql(now - DAY, now + 1000);
    const rows = (await (await ch.query({ query: `EXPLAIN ESTIMATE ${sql}`, format: 'JSONEachRow' })).json<{ parts: string; rows: string }>())[0]!;
    const monthsRows = await count(`SELECT count() AS n FROM link_activity_lookup WHERE month >= toStartOfMonth(toDate(${ms(now - DAY)}, 'UTC'))`);
    expect(Number(rows.rows)).toBeLessThanOrEqual(monthsRows);
    expect(Number(rows.rows)).toBeLessThan(await count('SELECT count() AS n FROM link_activity_lookup'));
  });
});
