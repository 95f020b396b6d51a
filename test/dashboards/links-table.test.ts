import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClickHouse, undeduplicatedInsert, type ClickHouseClient } from '../../clickhouse/client.js';
import { migrate } from '../../clickhouse/migrate.js';
import { loadConfig } from '../../config/env.js';
import { accessModes, linkStatuses, recordKinds } from '../../schema/records.js';
import { boardVariables, committedDashboards, panelByTitle } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';
import { insertLinkStates, type LinkState } from '../helpers/link-states.js';

/**
 * The Links table past its 1,000-row limit, against the raw tables: every link's newest state from
 * `links`, its activity from `request_logs`, filtered, ordered, the first 1,000 kept. 24,000 links (more states than the newest-links window), a
 * third with a later state still unmerged beside the first in links_latest (a state filter must
 * keep a link by its newest state only), tied creation times, request logs over two months (so
 * link_activity_lookup sums across months).
 */
const dir = mkdtempSync(join(tmpdir(), 'obs-links-table-'));
const db = 'observability';
let ch: ClickHouseClient;
const LINKS = 24_000; // more states than the newest-links window reads (dashboards/shared-sql.ts)
const institutions = ['erebor_mx_retail', 'gotham_br_business', 'ofelia_co_retail'];
const customers = ['acme', 'globex'];
const now = Date.UTC(2026, 10, 20);
const MIN = 60_000;

beforeAll(async () => {
  ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
  await migrate(ch, { database: db });
  await ch.command({ query: `USE ${db}` });

  const first: LinkState[] = [];
  const later: LinkState[] = [];
  for (let i = 0; i < LINKS; i++) {
    const link = {
      link_id: `lnk_${i}`,
      institution: institutions[i % 3]!,
      customer_id: customers[i % 2]!,
      external_id: `user-${i % 8_000}`, // an external id shared by up to 3 links
      // created_at ties between pairs of links, so link_id breaks them
      created_at: now - 40 * 24 * 60 * MIN + Math.floor(i / 2) * 2 * MIN,
    };
    first.push({ ...link, status: linkStatuses[i % 4]!, access_mode: accessModes[i % 2]!, updated_at: link.created_at });
    if (i % 3 === 0) {
      // a later state: the table must show this one, and filter on it
      later.push({ ...link, status: linkStatuses[(i + 1) % 4]!, access_mode: accessModes[(i + 1) % 2]!, updated_at: link.created_at + 5 * MIN });
    }
  }
  await insertLinkStates(ch, first);
  // links_latest keeps both states of a changed link, in two parts, as until ClickHouse merges them
  await ch.command({ query: `SYSTEM STOP MERGES ${db}.links_latest` });
  await insertLinkStates(ch, later);

  const logs = [];
  for (let n = 0; n < 60_000; n++) {
    const i = (n * 7) % LINKS;
    if (i % 5 === 4) continue; // some links never called
    logs.push(
      recordKinds.logs.mapping.toRow(
        recordKinds.logs.schema.parse({
          request_id: `req-${n}`,
          timestamp: now - ((n * 7919) % (45 * 24 * 60)) * MIN, // over October and November
          method: 'GET',
          endpoint: '/api/accounts/',
          status_code: n % 6 === 0 ? 428 : 200,
          link_id: `lnk_${i}`,
          institution: institutions[i % 3],
          customer_id: customers[i % 2],
        }) as never,
      ),
    );
  }
  await ch.insert({ table: 'request_logs', values: logs.map((l) => ({ ...l, batch_id: 'logs' })), format: 'JSONEachRow', clickhouse_settings: undeduplicatedInsert });
});

afterAll(async () => {
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rows = async (sql: string) => (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>();
const board = committedDashboards().find((b) => b.uid === 'links')!;
const tableSql = panelByTitle(board, 'Links').targets![0]!.rawSql;

/** The panel with some dropdowns picked and text boxes filled; everything else All / empty. */
function panel(pick: Record<string, string[]>, text: Record<string, string> = {}) {
  return rows(expandQuery(tableSql, { fromMs: now - 86_400_000, toMs: now, intervalMs: 60_000, variables: boardVariables(board, pick, text) }));
}

/** The same table from the raw tables, in the plain formulation. `where` is on the newest state. */
function reference(where: string) {
  return rows(`
    SELECT l.link_id AS link_id, l.status AS status, l.access_mode AS access_mode, l.external_id AS external_id,
           l.institution AS institution, l.created_at AS created_at,
           nullIf(a.last, toDateTime64(0, 3, 'UTC')) AS last_accessed_at, a.n AS requests, a.e AS errors
    FROM (
      SELECT link_id, argMax(status, updated_at) AS status, argMax(access_mode, updated_at) AS access_mode,
             argMax(institution, updated_at) AS institution, argMax(external_id, updated_at) AS external_id,
             argMax(customer_id, updated_at) AS customer_id, min(created_at) AS created_at
      FROM links GROUP BY link_id
    ) AS l
    LEFT JOIN (
      SELECT link_id, max(timestamp) AS last, count() AS n, countIf(status_code >= 400) AS e FROM request_logs GROUP BY link_id
    ) AS a ON a.link_id = l.link_id
    WHERE ${where}
    ORDER BY created_at DESC, link_id
    LIMIT 1000`);
}

describe('the Links table', () => {
  it.each([
    ['as opened', {}, {}, '1'],
    // a quarter of the links: fewer than 1,000 in the window, so the whole table is read
    ['one status', { link_status: ['valid'] }, {}, "status = 'valid'"],
    // half of an institution's links: found in the window of its newest states
    ['two statuses and an institution', { link_status: ['valid', 'invalid'], institution: ['gotham_br_business'] }, {}, "status IN ('valid', 'invalid') AND institution = 'gotham_br_business'"],
    ['an access mode and a customer', { access_mode: ['single'], customer: ['acme'] }, {}, "access_mode = 'single' AND customer_id = 'acme'"],
    ['an external id', {}, { external_id: 'user-7' }, "external_id = 'user-7'"],
    ['a new link id', {}, { link_id: 'lnk_23901' }, "link_id = 'lnk_23901'"],
    ['an old link id (fewer than 1,000 matches: the whole table)', {}, { link_id: 'lnk_2301' }, "link_id = 'lnk_2301'"],
  ])('%s: the plain answer from the raw tables', async (_name, pick, text, where) => {
    const expected = await reference(where);
    expect(expected.length).toBeGreaterThan(0);
    expect(await panel(pick, text)).toEqual(expected);
  });

  it('shows 1,000 links, newest first, each in its newest state', async () => {
    expect(Number((await rows(`SELECT count() AS n FROM links_latest`))[0]!.n)).toBe(LINKS + LINKS / 3); // both states kept
    const opened = await panel({});
    expect(opened).toHaveLength(1000);
    expect(opened.slice(0, 2).map((r) => r.link_id)).toEqual([`lnk_${LINKS - 2}`, `lnk_${LINKS - 1}`]); // a tie: link_id decides
    const changed = opened.find((r) => r.link_id === 'lnk_23994')!; // a multiple of 3: its later state
    expect(changed.status).toBe(linkStatuses[23995 % 4]);
    const filtered = await panel({ link_status: [linkStatuses[23994 % 4]!] }); // its first state: no longer matches
    expect(filtered.find((r) => r.link_id === 'lnk_23994')).toBeUndefined();
  });

  it('sums a link over unmerged parts of its activity (link_activity_lookup, sql/016): the raw answer', async () => {
    // two more inserts for the newest links, in November and December, kept as separate parts
    await ch.command({ query: 'SYSTEM STOP MERGES link_activity_lookup' });
    for (const [batch, at] of [['late-1', now - 90 * MIN], ['late-2', now + 11 * 24 * 60 * MIN]] as const) {
      const late = Array.from({ length: 300 }, (_, n) =>
        recordKinds.logs.mapping.toRow(
          recordKinds.logs.schema.parse({
            request_id: `${batch}-${n}`, timestamp: at + n * 1000, method: 'GET', endpoint: '/api/accounts/', status_code: n % 4 === 0 ? 500 : 200,
            link_id: `lnk_${LINKS - 1 - (n % 150)}`, institution: institutions[0], customer_id: customers[0],
          }) as never,
        ),
      );
      await ch.insert({ table: 'request_logs', values: late.map((l) => ({ ...l, batch_id: batch })), format: 'JSONEachRow', clickhouse_settings: undeduplicatedInsert });
    }
    const parts = await rows("SELECT count() AS n FROM system.parts WHERE table = 'link_activity_lookup' AND active");
    expect(Number(parts[0]!.n)).toBeGreaterThan(2);
    const opened = await panel({});
    expect(opened).toEqual(await reference('1'));
    await ch.command({ query: 'SYSTEM START MERGES link_activity_lookup' });
  });
});
