import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { undeduplicatedInsert } from '../../clickhouse/client.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { openMigratedEngine, queryWithReadRows, type MigratedEngine } from '../helpers/migrated-engine.js';

/**
 * Logs' "Requests" table reads the raw logs from a cutoff counted in a minute rollup
 * (dashboards/newest-rows.ts) instead of its whole time range. Its answer must be the one of the
 * plain query over the range, on data shaped so that the cutoff matters: ties on the minute the
 * cutoff lands on, filters that match few rows, rows before the range and after its end, and the
 * rollup branch each filter picks.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// Mid-hour and mid-second: the range's ends are not whole minutes, its first hour is partial.
const now = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR + 25 * MINUTE + 30_500;
const from = now - 24 * HOUR;
const board = committedDashboards().find((b) => b.uid === 'logs')!;
const requestsSql = panelByTitle(board, 'Requests').targets![0]!.rawSql;
/** The minute the tied rows share: the 1000th newest row falls among them. */
const tieMinute = Math.floor(now / MINUTE) * MINUTE - 4 * MINUTE;

let engine: MigratedEngine;
let ch: ClickHouseClient;
type Row = Record<string, string | number>;

const ms = (t: number) => `fromUnixTimestamp64Milli(toInt64(${t}))`;

async function insert(select: string): Promise<void> {
  await ch.command({
    clickhouse_settings: undeduplicatedInsert,
    query: `INSERT INTO request_logs (request_id, timestamp, method, endpoint, status_code, link_id, external_id, institution, source, customer_id, error_code, response_body, batch_id) ${select}`,
  });
}

/** Rows of one shape: institution, customer, endpoint, status and source vary with the row number. */
const rows = (prefix: string, count: number, timestampOf: string, institution = "['bank_a', 'bank_b', 'bank_c', 'bank_d'][1 + number % 4]") => `
  SELECT concat('${prefix}_', toString(number)), ${timestampOf},
    ['GET', 'POST'][1 + number % 2], ['/api/accounts/', '/api/owners/', '/api/links/'][1 + number % 3],
    [200, 200, 201, 428, 500][1 + number % 5], concat('lnk_', toString(number % 97)), concat('user-', toString(number % 97)),
    ${institution}, if(number % 7 = 0, 'dashboard', 'api'), ['customer_1', 'customer_2'][1 + number % 2],
    if(number % 5 >= 3, 'some_error', ''), '', '${prefix}'
  FROM numbers(${count})`;

beforeAll(async () => {
  engine = await openMigratedEngine('newest-rows');
  ch = engine.ch;
  await ch.command({ query: 'USE observability' });
  // 26 hours of steady traffic, two hours of it before the range.
  await insert(rows('bulk', 60_000, ms(now) + ` - toIntervalMillisecond(cityHash64(number) % ${26 * HOUR})`));
  // 600 rows on one millisecond at the start of a minute, with 500 newer ones after it.
  await insert(rows('tie', 600, ms(tieMinute)));
  await insert(rows('after_tie', 500, `${ms(tieMinute + 1)} + toIntervalMillisecond(cityHash64(number) % ${now - tieMinute - 2})`));
  // A bank with few rows in the range and more before it; rows just inside and outside both ends.
  await insert(rows('rare', 5, `${ms(now - 20 * HOUR)} + toIntervalMinute(number)`, "'bank_rare'"));
  await insert(rows('rare_old', 50, `${ms(from - 3 * HOUR)} + toIntervalMinute(number)`, "'bank_rare'"));
  await insert(rows('edge', 4, `[${ms(from - 1)}, ${ms(from)}, ${ms(now)}, ${ms(now + 1)}][1 + number]`, "'bank_edge'"));
  // Rows after the range's end (a producer's clock ahead), enough to fill the table by themselves
  // if the partial bucket at the end were counted.
  await insert(rows('future', 1500, `${ms(now + 1)} + toIntervalMillisecond(number * 100)`));
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

const query = (sql: string) => queryWithReadRows<Row>(ch, sql);

const panelQuery = (pick: Record<string, string[]> = {}, text: Record<string, string> = {}) =>
  expandQuery(requestsSql, { fromMs: from, toMs: now, intervalMs: MINUTE, variables: boardVariables(board, pick, text) });

/** The plain question: the newest 1000 rows of the range that match. */
const referenceQuery = (where: string) => `
  SELECT timestamp, status_code, method, endpoint, link_id, institution, request_id, external_id, source
  FROM request_logs
  WHERE timestamp >= ${ms(from)} AND timestamp <= ${ms(now)} AND ${where}
  ORDER BY timestamp DESC
  LIMIT 1000`;

/**
 * The same answer: the same timestamps in the same order and the same rows above the last one.
 * Rows tied on the last timestamp may be any of the tied rows (ORDER BY timestamp alone does not
 * pick among them, in either query), so those are checked to be tied rows of the range.
 */
async function expectSameAnswer(panelSql: string, where: string): Promise<Row[]> {
  const panel = (await query(panelSql)).data;
  const reference = (await query(referenceQuery(where))).data;
  expect(panel.map((r) => r.timestamp)).toEqual(reference.map((r) => r.timestamp));
  const last = reference.at(-1)?.timestamp;
  const shown = (r: Row) => JSON.stringify([r.timestamp, r.status_code, r.method, r.endpoint, r.link_id, r.institution, r.request_id, r.external_id, r.source]);
  const above = (rs: Row[]) => rs.filter((r) => r.timestamp !== last).map(shown).sort();
  expect(above(panel)).toEqual(above(reference));
  if (last !== undefined) {
    const tied = new Set((await query(`${referenceQuery(`${where} AND timestamp = toDateTime64('${last}', 3, 'UTC')`).replace('LIMIT 1000', '')}`)).data.map(shown));
    for (const r of panel.filter((p) => p.timestamp === last)) expect(tied.has(shown(r))).toBe(true);
  }
  return panel;
}

describe('Logs / Requests from a cutoff', () => {
  it('as opened: the newest 1000 rows, the cutoff landing among 600 tied rows', async () => {
    const panel = await expectSameAnswer(panelQuery(), '1');
    expect(panel).toHaveLength(1000);
    expect(panel.at(-1)!.timestamp).toBe(new Date(tieMinute).toISOString().replace('T', ' ').replace('Z', ''));
  });

  it('a bank with 5 rows in the range and 50 before it: all 5, nothing older', async () => {
    const panel = await expectSameAnswer(panelQuery({ institution: ['bank_rare'] }), "institution = 'bank_rare'");
    expect(panel).toHaveLength(5);
  });

  it('the range ends are kept to the millisecond: rows on both ends, none just outside', async () => {
    const panel = await expectSameAnswer(panelQuery({ institution: ['bank_edge'] }), "institution = 'bank_edge'");
    expect(panel.map((r) => r.request_id).sort()).toEqual(['edge_1', 'edge_2']);
  });

  it('dropdowns the narrow rollup has (customer, institution) and those it lacks (endpoint, status, source)', async () => {
    await expectSameAnswer(panelQuery({ customer: ['customer_2'], institution: ['bank_a', 'bank_c'] }), "customer_id = 'customer_2' AND institution IN ('bank_a', 'bank_c')");
    await expectSameAnswer(panelQuery({ endpoint: ['/api/owners/'] }), "endpoint = '/api/owners/'");
    await expectSameAnswer(panelQuery({ status_code: ['500'], source: ['dashboard'] }), "status_code = 500 AND source = 'dashboard'");
    await expectSameAnswer(panelQuery({ method: ['GET'], institution: ['bank_b'] }), "method = 'GET' AND institution = 'bank_b'");
  });

  it('a search box (no rollup column): the whole range, as before', async () => {
    const panel = await expectSameAnswer(panelQuery({}, { link_id: 'lnk_5' }), "link_id = 'lnk_5'");
    expect(panel.length).toBeGreaterThan(100);
    expect(panel.every((r) => r.link_id === 'lnk_5')).toBe(true);
    await expectSameAnswer(panelQuery({}, { request_id: 'tie_7' }), "request_id = 'tie_7'");
  });
});

describe('Logs / Requests reads what the newest rows need, not the table', () => {
  it('ten times more rows in the range: the panel reads about as many rows, the query without the cutoff ten times more', async () => {
    const cutoffCondition = /\n\s*AND timestamp >= cutoff AND toStartOfHour\(timestamp\) >= toStartOfHour\(cutoff\)/;
    expect(panelQuery()).toMatch(cutoffCondition);
    const withoutCutoff = panelQuery().replace(cutoffCondition, '');
    const before = { panel: (await query(panelQuery())).readRows, plain: (await query(withoutCutoff)).readRows };
    // 600k more rows over the range's first 22 hours, in several inserts (parts), as history accumulates.
    for (let part = 0; part < 6; part++) {
      await insert(rows(`history_${part}`, 100_000, `${ms(from)} + toIntervalMillisecond(cityHash64(number, ${part}) % ${22 * HOUR})`));
    }
    await expectSameAnswer(panelQuery(), '1');
    const after = { panel: (await query(panelQuery())).readRows, plain: (await query(withoutCutoff)).readRows };
    expect(after.plain).toBeGreaterThan(before.plain * 5);
    expect(after.panel).toBeLessThan(before.panel * 1.5);
    expect(after.panel).toBeLessThan(after.plain / 10);
  }, 120_000);
});

describe('Logs / Requests by response class', () => {
  const byClassSql = panelByTitle(board, 'Requests by response class').targets![0]!.rawSql;
  const chart = (pick: Record<string, string[]> = {}) =>
    expandQuery(byClassSql, { fromMs: from, toMs: now, intervalMs: 5 * MINUTE, variables: boardVariables(board, pick) });
  /** The plain question, on the rollup that has every dropdown's column. */
  const reference = (where: string) => `
    SELECT toStartOfInterval(minute, INTERVAL 300 second) AS time, concat(toString(intDiv(status_code, 100)), 'xx') AS response_class, sum(requests) AS requests
    FROM request_stats_1m
    WHERE minute >= toDateTime(${Math.floor(from / 1000)}) AND minute <= toDateTime(${Math.floor(now / 1000)}) AND ${where}
    GROUP BY time, response_class
    ORDER BY time, response_class`;

  it('the same counts from request_status_1m as opened, and from request_stats_1m once endpoint, method or source filters', async () => {
    const cases: [Record<string, string[]>, string][] = [
      [{}, '1'],
      [{ institution: ['bank_rare', 'bank_a'], status_code: ['500', '201'] }, "institution IN ('bank_rare', 'bank_a') AND status_code IN (500, 201)"],
      [{ endpoint: ['/api/links/'] }, "endpoint = '/api/links/'"],
      [{ source: ['dashboard'], customer: ['customer_1'] }, "source = 'dashboard' AND customer_id = 'customer_1'"],
    ];
    for (const [pick, where] of cases) {
      const got = (await query(chart(pick))).data;
      expect(got.length).toBeGreaterThan(10);
      expect(got).toEqual((await query(reference(where))).data);
    }
  });
});
