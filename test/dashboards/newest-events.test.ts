import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { undeduplicatedInsert } from '../../clickhouse/client.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { openMigratedEngine, queryWithReadRows, type MigratedEngine } from '../helpers/migrated-engine.js';

/**
 * Events' "Webhook events" table reads the raw attempts from a cutoff counted in webhook_events_1h
 * (first attempts per hour, sql/015) and webhook_stats_1m (per minute, for the range's last partial
 * hour), dashboards/newest-rows.ts, instead of its whole time range. It shows
 * the events first sent in the range. Its answer must be the one of the plain query over the range
 * with that meaning, on data where the cutoff matters: retries straddling the cutoff and both ends
 * of the range, 600 events tied on one millisecond, filters matching few events, events after the
 * range's end, and the search boxes the rollup cannot follow.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// Mid-hour and mid-second: the range's ends are not whole minutes, its first hour is partial.
const now = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR + 25 * MINUTE + 30_500;
const from = now - 24 * HOUR;
const board = committedDashboards().find((b) => b.uid === 'events')!;
const eventsSql = panelByTitle(board, 'Webhook events').targets![0]!.rawSql;
/** The minute 600 first attempts share, with 500 newer events: the 1000th newest is among them. */
const tieMinute = Math.floor(now / MINUTE) * MINUTE - 9 * MINUTE;

let engine: MigratedEngine;
let ch: ClickHouseClient;
type Row = Record<string, string | number | boolean | null>;

const ms = (t: number) => `fromUnixTimestamp64Milli(toInt64(${t}))`;

/**
 * Events numbered 0..count-1, `first` the SQL time of attempt 1 (of `w`, the event number). Each
 * has 2 attempts (3 for every 5th), each retry 1–30 minutes (hashed) after the one before; the
 * last attempt is delivered (200) except for every 4th event (no response, NULL), earlier ones 503
 * or NULL. Event, customer and link vary with the event number.
 */
async function insertEvents(prefix: string, count: number, first: string, customer = "['customer_1', 'customer_2'][1 + intDiv(w, 3) % 2]"): Promise<void> {
  await ch.command({
    clickhouse_settings: undeduplicatedInsert,
    query: `
      INSERT INTO webhook_attempts (webhook_id, event, type, link_id, attempt, url, status_code, timestamp, error, payload, customer_id, batch_id)
      SELECT concat('${prefix}_', toString(w)), ['new_transactions_available', 'new_accounts_available', 'token_required'][1 + w % 3],
        ['TRANSACTIONS', 'ACCOUNTS', 'LINKS'][1 + w % 3], concat('lnk_', toString(w % 97)), attempt, 'https://hooks.example/x',
        if(attempt = attempts, if(w % 4 = 0, NULL, toUInt16(200)), if(cityHash64(w, attempt) % 2 = 0, NULL, toUInt16(503))),
        ${first} + toIntervalMillisecond((attempt - 1) * (60000 + cityHash64(w, 7) % 1740001)), '', '{}', ${customer}, '${prefix}'
      FROM (SELECT number AS w, if(w % 5 = 0, 3, 2) AS attempts, arrayJoin(range(1, attempts + 1)) AS attempt FROM numbers(${count}))`,
  });
}

beforeAll(async () => {
  engine = await openMigratedEngine('newest-events');
  ch = engine.ch;
  await ch.command({ query: 'USE observability' });
  // 26 hours of events, two of them before the range: ~19 first attempts a minute.
  await insertEvents('bulk', 30_000, `${ms(now)} - toIntervalMillisecond(cityHash64(w) % ${26 * HOUR})`);
  await insertEvents('tie', 600, ms(tieMinute));
  await insertEvents('after_tie', 500, `${ms(tieMinute + 1)} + toIntervalMillisecond(cityHash64(w) % ${now - tieMinute - 2})`);
  // A customer with few events in the range and more before it.
  await insertEvents('rare', 5, `${ms(now - 20 * HOUR)} + toIntervalMinute(w)`, "'customer_rare'");
  await insertEvents('rare_old', 50, `${ms(from - 3 * HOUR)} + toIntervalMinute(w)`, "'customer_rare'");
  // Retries straddling the range's start (first sent 1 ms or 1 minute before it) and first
  // attempts on both ends of the range (their retries after its end).
  await insertEvents('edge', 4, `[${ms(from - 1)}, ${ms(from - MINUTE)}, ${ms(from)}, ${ms(now)}][1 + w]`, "'customer_edge'");
  // Events after the range's end (a producer's clock ahead), enough to fill the table by
  // themselves if the partial minute at the end were counted.
  await insertEvents('future', 1500, `${ms(now + 1)} + toIntervalMillisecond(w * 30)`);
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

const query = (sql: string) => queryWithReadRows<Row>(ch, sql);

const panelQuery = (pick: Record<string, string[]> = {}, text: Record<string, string> = {}) =>
  expandQuery(eventsSql, { fromMs: from, toMs: now, intervalMs: MINUTE, variables: boardVariables(board, pick, text) });

/** The plain question: the 1000 newest events first sent in the range, their attempts in it. */
const referenceQuery = (where: string) => `
  SELECT webhook_id, type, event, link_id, minIf(timestamp, attempt = 1) AS datetime, count() AS attempts,
    argMax(tuple(status_code), attempt).1 AS last_response_code, countIf(status_code BETWEEN 200 AND 299) > 0 AS delivered
  FROM webhook_attempts
  WHERE timestamp >= ${ms(from)} AND timestamp <= ${ms(now)} AND ${where}
  GROUP BY webhook_id, type, event, link_id
  HAVING countIf(attempt = 1) > 0
  ORDER BY datetime DESC, webhook_id
  LIMIT 1000`;

/** Rows and order are fully determined (ORDER BY datetime, webhook_id): the answers must be equal. */
async function expectSameAnswer(panelSql: string, where: string): Promise<Row[]> {
  const panel = (await query(panelSql)).data;
  expect(panel).toEqual((await query(referenceQuery(where))).data);
  return panel;
}

const ids = (rows: Row[]) => rows.map((r) => String(r.webhook_id)).sort();

describe('Events / Webhook events from a cutoff', () => {
  it('as opened: the 1000 newest events, the 1000th among 600 tied first attempts, retries straddling the cutoff counted whole', async () => {
    const panel = await expectSameAnswer(panelQuery(), '1');
    expect(panel).toHaveLength(1000);
    const oldest = panel.at(-1)!.datetime;
    expect(oldest).toBe(new Date(tieMinute).toISOString().replace('T', ' ').replace('Z', ''));
    // The data has what makes the cutoff matter: events first sent before the oldest one shown
    // whose retries come after it (read, then dropped), and shown events whose retry is after the
    // range's end (not counted).
    const straddling = await query(`
      SELECT count() AS n FROM (
        SELECT webhook_id FROM webhook_attempts GROUP BY webhook_id
        HAVING minIf(timestamp, attempt = 1) < toDateTime64('${oldest}', 3, 'UTC') AND max(timestamp) > toDateTime64('${oldest}', 3, 'UTC') + INTERVAL 1 MINUTE)`);
    expect(Number(straddling.data[0]!.n)).toBeGreaterThan(100);
    expect(panel.some((r) => Number(r.attempts) === 1)).toBe(true);
    expect(panel.some((r) => r.last_response_code === null && !r.delivered)).toBe(true);
    expect(panel.some((r) => Number(r.attempts) === 3 && r.delivered)).toBe(true);
  });

  it('the range ends: events first sent on both ends shown, retries before or after the range not counted, events first sent before it not shown', async () => {
    const panel = await expectSameAnswer(panelQuery({ customer: ['customer_edge'] }), "customer_id = 'customer_edge'");
    // edge_0 and edge_1 were first sent before the range: their retries in it do not make them events of the range
    expect(ids(panel)).toEqual(['edge_2', 'edge_3']);
    // edge_3 was first sent on the range's last millisecond: its retry is after the range
    expect(panel.map((r) => [r.webhook_id, Number(r.attempts)])).toEqual([['edge_3', 1], ['edge_2', 2]]);
  });

  it('a customer with 5 events in the range and 50 before it: all 5, nothing older', async () => {
    const panel = await expectSameAnswer(panelQuery({ customer: ['customer_rare'] }), "customer_id = 'customer_rare'");
    expect(ids(panel)).toEqual(['rare_0', 'rare_1', 'rare_2', 'rare_3', 'rare_4']);
  });

  it('the customer, event and type dropdowns (their cutoffs land in whole hours)', async () => {
    await expectSameAnswer(panelQuery({ customer: ['customer_2'] }), "customer_id = 'customer_2'");
    await expectSameAnswer(panelQuery({ event: ['token_required'] }), "event = 'token_required'");
    await expectSameAnswer(panelQuery({ event_type: ['ACCOUNTS', 'LINKS'], customer: ['customer_1', 'customer_rare'] }), "type IN ('ACCOUNTS', 'LINKS') AND customer_id IN ('customer_1', 'customer_rare')");
    const none = await expectSameAnswer(panelQuery({ event: ['token_required'], event_type: ['ACCOUNTS'] }), "event = 'token_required' AND type = 'ACCOUNTS'");
    expect(none).toHaveLength(0);
  });

  it('a search box (no rollup column): the whole range', async () => {
    const forLink = await expectSameAnswer(panelQuery({}, { link_id: 'lnk_5' }), "link_id = 'lnk_5'");
    expect(forLink.length).toBeGreaterThan(200);
    expect(forLink.every((r) => r.link_id === 'lnk_5')).toBe(true);
    // an event from the range's first hours, far older than the 1000 newest
    const old = (await query(`SELECT webhook_id FROM webhook_attempts WHERE attempt = 1 AND timestamp < ${ms(from + 2 * HOUR)} AND timestamp > ${ms(from)} LIMIT 1`)).data[0]!;
    const one = await expectSameAnswer(panelQuery({}, { webhook_id: String(old.webhook_id) }), `webhook_id = '${old.webhook_id}'`);
    expect(ids(one)).toEqual([old.webhook_id]);
    await expectSameAnswer(panelQuery({ customer: ['customer_1'] }, { link_id: 'lnk_6' }), "customer_id = 'customer_1' AND link_id = 'lnk_6'");
  });
});

describe('Events / Webhook events on a database migrated before webhook_events_1h', () => {
  it('no hourly counts: the cutoff is older, the answer the same', async () => {
    await ch.command({ query: 'TRUNCATE TABLE webhook_events_1h' });
    try {
      expect(await expectSameAnswer(panelQuery(), '1')).toHaveLength(1000);
      expect(await expectSameAnswer(panelQuery({ customer: ['customer_2'] }), "customer_id = 'customer_2'")).toHaveLength(1000);
    } finally {
      // the hours back, rebuilt as crash repair does (from webhook_stats_1m)
      await ch.command({
        query: `INSERT INTO webhook_events_1h SELECT toStartOfHour(minute) AS hour, customer_id, event, type, sum(first_attempts) FROM webhook_stats_1m GROUP BY hour, customer_id, event, type`,
      });
    }
  });
});

describe('Events / Webhook events reads what the newest events need, not the table', () => {
  it('ten times more attempts in the range: the panel reads about as many rows, the query without the cutoff about ten times more', async () => {
    const cutoffCondition = /\n\s*AND timestamp >= cutoff AND toStartOfHour\(timestamp\) >= toStartOfHour\(cutoff\)/;
    expect(panelQuery()).toMatch(cutoffCondition);
    const withoutCutoff = panelQuery().replace(cutoffCondition, '');
    const before = { panel: (await query(panelQuery())).readRows, plain: (await query(withoutCutoff)).readRows };
    // ~660k more attempts over the range's first 22 hours, in several inserts (parts), as history accumulates.
    for (let part = 0; part < 6; part++) {
      await insertEvents(`history_${part}`, 45_000, `${ms(from)} + toIntervalMillisecond(cityHash64(w, ${part}) % ${22 * HOUR})`);
    }
    await expectSameAnswer(panelQuery(), '1');
    const after = { panel: (await query(panelQuery())).readRows, plain: (await query(withoutCutoff)).readRows };
    console.log('webhook events rows read, before/after 10x history:', JSON.stringify({ before, after }));
    expect(after.plain).toBeGreaterThan(before.plain * 5);
    expect(after.panel).toBeLessThan(before.panel * 1.5);
    expect(after.panel).toBeLessThan(after.plain / 10);
  }, 120_000);
});
