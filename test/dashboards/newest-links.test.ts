import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { openMigratedEngine, queryWithReadRows, type MigratedEngine } from '../helpers/migrated-engine.js';
import { insertGeneratedLinks } from '../helpers/link-states.js';
import { activityMonthsSince } from '../../dashboards/shared-sql.js';

/**
 * The Links table reads the newest links through links_latest's by_created projection (sql/013,
 * dashboards/shared-sql.ts newestLinksCutoff): ten times more older links leave what it reads
 * about flat, while the plain answer (every link's newest state, newest 1,000) stays its answer.
 * Their activity is read from the month before the oldest shown link was created (activityMonthsSince),
 * not from every month kept. Exactness on ties, unmerged states and filters: links-table.test.ts.
 */
const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 20);
const board = committedDashboards().find((b) => b.uid === 'links')!;
const tableSql = panelByTitle(board, 'Links').targets![0]!.rawSql;
const opened = expandQuery(tableSql, { fromMs: now - DAY, toMs: now, intervalMs: 60_000, variables: boardVariables(board, {}, {}) });

let engine: MigratedEngine;
let ch: ClickHouseClient;

/** `count` links numbered from `first`, in two states, created over `days` before `end`, called over the 60 days before now. */
const insertLinks = (first: number, count: number, end: number, days: number) =>
  insertGeneratedLinks(ch, { first, count, end, spanMs: days * DAY, callsUntil: now, callsSpanMs: 60 * DAY });

const query = (sql: string) => queryWithReadRows(ch, sql);

const count = async (table: string) => Number((await query(`SELECT count() AS n FROM ${table}`)).data[0]!.n);

/**
 * Rows the panel's activity side reads for the links it shows, its set of ids built as it builds
 * it (the engine reads more granules for a subquery's set than for the same ids listed).
 */
const activityRead = async (shown: Record<string, unknown>[], months = true) => {
  const cutoff = `toDateTime64('${String(shown.at(-1)!.created_at)}', 3, 'UTC')`;
  const ids = `link_id IN (SELECT link_id FROM links_latest WHERE created_at >= ${cutoff})`;
  return (await query(`SELECT count() FROM link_activity_lookup WHERE ${ids}${months ? ` AND ${activityMonthsSince(cutoff)}` : ''}`)).readRows;
};

/** The plain question: every link's newest state and activity, newest 1,000. */
const plain = `
  SELECT l.link_id AS link_id, l.status AS status, l.access_mode AS access_mode, l.external_id AS external_id,
         l.institution AS institution, l.created_at AS created_at,
         nullIf(a.last, toDateTime64(0, 3, 'UTC')) AS last_accessed_at, a.n AS requests, a.e AS errors
  FROM (
    SELECT link_id, argMax(status, updated_at) AS status, argMax(access_mode, updated_at) AS access_mode,
           argMax(institution, updated_at) AS institution, argMax(external_id, updated_at) AS external_id,
           min(created_at) AS created_at
    FROM links_latest GROUP BY link_id
  ) AS l
  LEFT JOIN (
    SELECT link_id, max(last_request_at) AS last, sum(requests) AS n, sum(errors) AS e FROM link_activity GROUP BY link_id
  ) AS a ON a.link_id = l.link_id
  ORDER BY created_at DESC, link_id
  LIMIT 1000`;

beforeAll(async () => {
  engine = await openMigratedEngine('newest-links');
  ch = engine.ch;
  await ch.command({ query: 'USE observability' });
  await insertLinks(0, 30_000, now, 10);
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

describe('Links / Links reads the newest links, not every link', () => {
  it('ten times more older links: the panel reads about as many rows and keeps the plain answer', async () => {
    // rows read through the projection scale with the parts (each part's newest granules), so the
    // flatness is compared on merged tables; the unmerged reads are bounded below
    await ch.command({ query: 'OPTIMIZE TABLE links_latest FINAL' });
    const before = { panel: await query(opened), plain: await query(plain) };
    expect(before.panel.data).toHaveLength(1000);
    expect(before.panel.data).toEqual(before.plain.data);
    const activityBefore = await activityRead(before.panel.data);
    // Parts held unmerged until the counts are taken: a merge between the panel's read and a count
    // would shrink the count (states or months folded) and misstate what the panel read.
    await Promise.all(['links_latest', 'link_activity_lookup'].map((t) => ch.command({ query: `SYSTEM STOP MERGES ${t}` })));
    // 300k links created in the 60 days before those, in several inserts (parts)
    for (let part = 0; part < 5; part++) await insertLinks(100_000 + part * 60_000, 60_000, now - 10 * DAY, 60);
    const after = { panel: await query(opened), plain: await query(plain) };
    expect(after.panel.data).toEqual(after.plain.data);
    expect(after.panel.data).toEqual(before.panel.data); // the newest links are the same ones
    expect(after.plain.readRows).toBeGreaterThan(before.plain.readRows * 5);
    // A link's activity is found through link_activity_lookup's key (link_id), a 1,024-row granule
    // per link, month and part (sql/016; with 1,000 links over a table this small, most of it);
    // the same lookup alone says how many rows that side read. The rest, links_latest, is read
    // through the projection: flat.
    const activityAfter = await activityRead(after.panel.data);
    // The older links' calls fill the months before the newest links were created (a granule per
    // link, month and part): the panel reads none of them, the same lookup over every month would.
    expect(await activityRead(after.panel.data, false)).toBeGreaterThan(activityAfter * 1.3);
    const unmergedRead = after.panel.readRows - activityAfter;
    // links_latest is read four times (newest states, cutoff, current states, activity's ids), each
    // through the projection's newest granule or so of every part: bounded by parts, not by links
    const parts = Number((await query("SELECT count() AS n FROM system.parts WHERE database = 'observability' AND table = 'links_latest' AND active")).data[0]!.n);
    expect(unmergedRead).toBeLessThanOrEqual(parts * 4 * 8192);
    expect(unmergedRead).toBeLessThan((await count('links_latest')) / 4);
    // links_latest merged; the activity's parts stay as they were, so its lookup below reads what the panel's did
    await ch.command({ query: 'SYSTEM START MERGES links_latest' });
    await ch.command({ query: 'OPTIMIZE TABLE links_latest FINAL' });
    const merged = await query(opened);
    expect(merged.data).toEqual(before.panel.data);
    const linksRead = { before: before.panel.readRows - activityBefore, after: merged.readRows - (await activityRead(merged.data)) };
    // granule steps (8,192 rows) make small counts move: 2x for 10x the links, where the plain query grows 7x
    expect(linksRead.after).toBeLessThan(linksRead.before * 2);
    console.log(`Links as opened, rows read: ${before.panel.readRows} -> ${after.panel.readRows} (of which links_latest ${linksRead.before} -> ${linksRead.after} merged, ${unmergedRead} in ${parts} parts unmerged); plain ${before.plain.readRows} -> ${after.plain.readRows}`);
  }, 300_000);
});
