import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { rawTimeFilter, textValue } from '../../dashboards/sql-filters.js';
import { defaultRule } from '../../alerting/rule.js';
import { sampleRequestIdsSql } from '../../alerting/rule-sql.js';
import { committedDashboards, panelByTitle, queryPanels, type DashboardJson, type Variable } from './dashboard-json.js';
import { ids, institutions, loadFixture, type FixtureRecords } from './fixture.js';
import { expandMacros, expandQuery, loadedVariables, type QueryContext } from './grafana-expander.js';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';

/**
 * Every panel target and variable query of every committed dashboard, expanded as Grafana and the
 * ClickHouse plugin expand them, run on the embedded engine against the fixture.
 */
const boards = committedDashboards();
const board = (uid: string) => boards.find((b) => b.uid === uid)!;

let pipeline: TestPipeline;
let clickhouse: ClickHouseClient;
let fixture: FixtureRecords;
let fromMs: number;
let toMs: number;

type Row = Record<string, unknown>;

async function run(sql: string): Promise<Row[]> {
  const result = await clickhouse.query({ query: sql, format: 'JSONEachRow' });
  return result.json<Row>();
}

const dropdowns = (b: DashboardJson) => b.templating.list.filter((v) => v.type === 'query' || v.type === 'custom');

/** A dropdown's options as Grafana would list them: its query's first column, or its custom list. */
const optionsCache = new Map<string, string[]>();
async function options(variable: Variable): Promise<string[]> {
  const key = JSON.stringify(variable.query);
  if (!optionsCache.has(key)) {
    if (variable.type === 'custom') {
      optionsCache.set(key, String(variable.query).split(',').map((s) => s.trim()));
    } else {
      const rawSql = typeof variable.query === 'string' ? variable.query : variable.query!.rawSql;
      const rows = await run(expandQuery(rawSql, { fromMs, toMs, intervalMs: 60_000, variables: {} }));
      optionsCache.set(key, rows.map((r) => String(Object.values(r)[0])));
    }
  }
  return optionsCache.get(key)!;
}

type DropdownChoice = 'all' | 'one' | 'several';

/**
 * The variables of a dashboard as Grafana holds them after loading its JSON (text boxes as saved,
 * dropdowns as saved and checked against their options), then dropdowns set per `choice` or
 * `pick` and text boxes typed into per `text`, as a user would.
 */
async function context(b: DashboardJson, choice: DropdownChoice, text: Record<string, string> = {}, pick: Record<string, string[]> = {}): Promise<QueryContext> {
  const optionsByName = new Map<string, string[]>();
  for (const v of dropdowns(b)) optionsByName.set(v.name, await options(v));
  const variables = loadedVariables(b.templating.list, (v) => optionsByName.get(v.name) ?? []);
  for (const v of dropdowns(b)) {
    const opts = optionsByName.get(v.name)!;
    const chosen = pick[v.name] ?? (choice === 'one' ? opts.slice(0, 1) : choice === 'several' ? opts.slice(0, 2) : undefined);
    if (chosen) variables[v.name] = { ...variables[v.name]!, value: chosen };
  }
  for (const [name, value] of Object.entries(text)) variables[name] = { value };
  return { fromMs, toMs, intervalMs: 60_000, variables };
}

async function panel(uid: string, title: string, ctx?: { choice?: DropdownChoice; text?: Record<string, string>; pick?: Record<string, string[]> }) {
  const b = board(uid);
  const target = panelByTitle(b, title).targets![0]!;
  return run(expandQuery(target.rawSql, await context(b, ctx?.choice ?? 'all', ctx?.text, ctx?.pick)));
}

const count = <T>(items: T[], key: (t: T) => string) =>
  items.reduce<Record<string, number>>((acc, t) => ({ ...acc, [key(t)]: (acc[key(t)] ?? 0) + 1 }), {});
const num = (v: unknown) => Number(v);

beforeAll(async () => {
  // The fixture goes through the real pipeline: ingest API -> queue -> worker -> embedded engine.
  pipeline = await startTestPipeline();
  // Half a second past a whole second: a bound cut to whole seconds misses the fixture's rows.
  fixture = await loadFixture(pipeline, Math.floor(Date.now() / 1000) * 1000 + 500);
  clickhouse = pipeline.clickhouse;
  // Panel SQL names tables without a database, like Grafana's datasource with defaultDatabase.
  // The worker's own SQL is fully qualified, so switching this session's default is harmless.
  await clickhouse.command({ query: `USE ${pipeline.database}` });
  fromMs = fixture.now - 7 * 24 * 3600_000;
  toMs = fixture.now + 60_000;
});

afterAll(async () => {
  await pipeline?.close();
});

describe('every query of every dashboard runs', () => {
  const cases = boards.flatMap((b) => queryPanels(b).flatMap((p) => (p.targets ?? []).map((t) => ({ uid: b.uid, title: p.title, rawSql: t.rawSql }))));
  const known = { link_id: ids.stuckLink, external_id: 'user-bruno', request_id: ids.tokenRequiredRequest, webhook_id: ids.undeliveredWebhook };

  it('covers every dashboard', () => {
    expect(boards.map((b) => b.uid).sort()).toEqual(['events', 'insights', 'link-detail', 'links', 'logs']);
    expect(cases.length).toBeGreaterThan(20);
  });

  it.each(boards.flatMap((b) => dropdowns(b).filter((v) => v.type === 'query').map((v) => ({ uid: b.uid, name: v.name, v }))))(
    'variable $uid/$name lists values',
    async ({ v }) => {
      expect((await options(v)).length).toBeGreaterThan(0);
    },
  );

  for (const scenario of [
    { name: 'All selected, text boxes empty', choice: 'all' as const, text: {} },
    { name: 'one value each', choice: 'one' as const, text: {} },
    { name: 'several values each', choice: 'several' as const, text: {} },
    { name: 'text boxes filled', choice: 'all' as const, text: known },
  ]) {
    it.each(cases)(`$uid / $title (${scenario.name})`, async ({ uid, rawSql }) => {
      const sql = expandQuery(rawSql, await context(board(uid), scenario.choice, scenario.text));
      expect(sql).not.toMatch(/\$/);
      await expect(run(sql)).resolves.toBeInstanceOf(Array);
    });
  }
});

/** For each table a query reads, the key columns its primary-key analysis used (EXPLAIN indexes = 1). */
async function primaryKeysByTable(sql: string): Promise<{ table: string; keys: string[] }[]> {
  const plan = await (await clickhouse.query({ query: `EXPLAIN indexes = 1 ${sql}`, format: 'TabSeparatedRaw' })).text();
  const lines = plan.split('\n').map((l) => l.replace(/^[\s│├└─]+/, '').trim());
  const reads: { table: string; keys: string[] }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const read = /^ReadFromMergeTree \((?:[\w]+\.)?(\w+)\)/.exec(lines[i]!);
    if (read) reads.push({ table: read[1]!, keys: [] });
    if (lines[i] === 'PrimaryKey' && lines[i + 1] === 'Keys:' && reads.length) {
      for (const line of lines.slice(i + 2)) {
        if (line.startsWith('Condition:')) break;
        reads[reads.length - 1]!.keys.push(line);
      }
    }
  }
  return reads;
}

describe("the raw tables' hour key", () => {
  /** The key columns the engine's primary-key analysis used for a query (EXPLAIN indexes = 1). */
  async function primaryKeyColumns(sql: string, params?: Record<string, unknown>): Promise<string[]> {
    const plan = await (await clickhouse.query({ query: `EXPLAIN indexes = 1 ${sql}`, format: 'TabSeparatedRaw', ...(params ? { query_params: params } : {}) })).text();
    // the plan is drawn as a tree: strip its branches, then read the lines under PrimaryKey / Keys:
    const lines = plan.split('\n').map((l) => l.replace(/^[\s│├└─]+/, '').trim());
    const at = lines.indexOf('PrimaryKey');
    if (at < 0 || lines[at + 1] !== 'Keys:') return [];
    const keys: string[] = [];
    for (const line of lines.slice(at + 2)) {
      if (line.startsWith('Condition:')) break;
      keys.push(line);
    }
    return keys;
  }
  const rawPanels = boards.flatMap((b) =>
    queryPanels(b).flatMap((p) =>
      (p.targets ?? []).filter((t) => /FROM (request_logs|webhook_attempts)\b/.test(t.rawSql) && t.rawSql.includes('$__timeFilter_ms(timestamp)')).map((t) => ({ uid: b.uid, title: p.title, rawSql: t.rawSql })),
    ),
  );

  it('finds the raw-table panels with a time range (Logs 1, Events 3, Link detail 4)', () => {
    expect(rawPanels.length).toBeGreaterThanOrEqual(8);
  });

  // Their sort key starts with toStartOfHour(timestamp); a range on timestamp alone left the engine
  // reading most of the table for a few minutes' rows (docs/performance.md, section 26).
  // Link detail's panels may be answered from the by_link projection instead (sql/010), sorted by
  // link_id: narrowed by that key then (test/dashboards/link-projection.test.ts).
  it.each(rawPanels)('$uid / $title narrows by the hour (or, on Link detail, by the link)', async ({ uid, rawSql }) => {
    const sql = expandQuery(rawSql, await context(board(uid), 'all', { link_id: ids.stuckLink, webhook_id: ids.undeliveredWebhook }));
    for (const read of await primaryKeysByTable(sql)) {
      expect(read.keys, read.table).toContain(uid === 'link-detail' && read.table !== 'request_logs' && read.table !== 'webhook_attempts' ? 'link_id' : 'toStartOfHour(timestamp)');
    }
  });

  it("the alert's evidence query narrows by the hour", async () => {
    const sql = sampleRequestIdsSql(defaultRule, pipeline.database);
    const params = { window_start_ms: fixture.now - 300_000, window_end_ms: fixture.now, institution: institutions.erebor, customer_id: '' };
    expect(await primaryKeyColumns(sql, params)).toContain('toStartOfHour(timestamp)');
    expect((await (await clickhouse.query({ query: sql, format: 'JSONEachRow', query_params: { ...params, window_start_ms: fixture.now - 7_200_000 } })).json()).length).toBeGreaterThan(0);
  });

  it('takes hours in UTC whatever the session time zone (a +05:45 zone starts its hours at :15 UTC)', async () => {
    const filter = expandMacros(rawTimeFilter('timestamp'), { fromMs: Date.parse('2026-11-20T10:30:00Z'), toMs: Date.parse('2026-11-20T11:00:00Z'), intervalMs: 60_000 });
    const rows = await (
      await clickhouse.query({
        query: `SELECT count() AS n FROM (SELECT toDateTime64('2026-11-20 10:40:00', 3, 'UTC') AS timestamp) WHERE ${filter}`,
        format: 'JSONEachRow',
        clickhouse_settings: { session_timezone: 'Asia/Kathmandu' },
      })
    ).json<{ n: string | number }>();
    expect(Number(rows[0]!.n)).toBe(1);
  });
});

describe('Insights answers from the rollups', () => {
  const errors = () => fixture.logs.filter((l) => num(l.status_code) >= 400);

  it('most common errors: code and status, most frequent first', async () => {
    const rows = await panel('insights', 'Most common errors');
    const expected = Object.entries(count(errors(), (l) => `${l.status_code} ${(l.error as { code: string }).code}`)).sort((a, b) => b[1] - a[1]);
    expect(rows.map((r) => [`${r.status_code} ${r.error_code}`, num(r.errors)])).toEqual(expected);
    expect(rows[0]).toMatchObject({ status_code: 428, error_code: 'token_required' });
  });

  it('links created in the last 30 days split recurrent / single', async () => {
    const latest = new Map<string, Record<string, unknown>>();
    for (const l of [...fixture.links].sort((a, b) => num(a.updated_at) - num(b.updated_at))) latest.set(String(l.link_id), l);
    const recent = [...latest.values()].filter((l) => num(l.created_at) >= fixture.now - 30 * 24 * 3600_000);
    const rows = await panel('insights', 'Links created (last 30 days)');
    expect(Object.fromEntries(rows.map((r) => [r.access_mode, num(r.links)]))).toEqual(count(recent, (l) => String(l.access_mode)));
    expect(Object.fromEntries(rows.map((r) => [r.access_mode, num(r.links)]))).toEqual({ recurrent: 3, single: 1 });
  });

  it('errors per institution, and the filter narrows them', async () => {
    const expected = count(errors(), (l) => String(l.institution));
    const rows = await panel('insights', 'Errors per institution');
    expect(Object.fromEntries(rows.map((r) => [r.institution, num(r.errors)]))).toEqual(expected);
    expect(rows[0]!.institution).toBe(institutions.gotham);
    const gotham = await panel('insights', 'Errors per institution', { pick: { institution: [institutions.gotham] } });
    expect(gotham).toEqual([{ institution: institutions.gotham, errors: expect.anything() }]);
  });

  it('internal vs institution errors', async () => {
    const rows = await panel('insights', 'Internal vs institution errors');
    expect(Object.fromEntries(rows.map((r) => [r.origin, num(r.errors)]))).toEqual(count(errors(), (l) => String(l.error_origin)));
  });

  it('request count, valid links and active links', async () => {
    expect(num((await panel('insights', 'Requests'))[0]!.requests)).toBe(fixture.logs.length);
    const postsAndPatches = fixture.logs.filter((l) => l.method === 'POST' || l.method === 'PATCH').length;
    expect(num((await panel('insights', 'Requests', { pick: { method: ['POST', 'PATCH'] } }))[0]!.requests)).toBe(postsAndPatches);
    expect(num((await panel('insights', 'Valid links'))[0]!.valid_links)).toBe(3);
    const linked = new Set(fixture.logs.map((l) => l.link_id).filter(Boolean));
    expect(num((await panel('insights', 'Active links'))[0]!.active_links)).toBe(linked.size);
  });

  it('the request dropdowns list what request_stats_1m holds in any range: whole hours from an hourly rollup, the edge minutes from its minute table', async () => {
    const inStats = (column: string) => `SELECT DISTINCT ${column} FROM request_stats_1m WHERE $__timeFilter(minute) AND toString(${column}) != '' ORDER BY ${column}`;
    const reference: Record<string, string> = {
      customer: inStats('customer_id'),
      endpoint: inStats('endpoint'),
      source: inStats('source'),
      status_code: inStats('status_code'),
      institution: `SELECT DISTINCT institution FROM (SELECT institution FROM request_stats_1m WHERE $__timeFilter(minute) UNION ALL SELECT institution FROM links_latest) WHERE institution != '' ORDER BY institution`,
    };
    const values = async (sql: string, from: number, to: number) =>
      (await run(expandQuery(sql, { fromMs: from, toMs: to, intervalMs: 60_000, variables: {} }))).map((r) => String(Object.values(r)[0]));
    const minutes = [...new Set(fixture.logs.map((l) => Math.floor(num(l.timestamp) / 60_000) * 60_000))].slice(0, 10);
    for (const [name, want] of Object.entries(reference)) {
      const variable = board('insights').templating.list.find((v) => v.name === name)!;
      const rawSql = typeof variable.query === 'string' ? variable.query : variable.query!.rawSql;
      expect(rawSql, name).toMatch(/request_(endpoints|status)_1h/);
      const answers = new Set<string>();
      for (const t of minutes) {
        // edges off the hour and off the minute, on a request's minute, and ranges of hours
        for (const [from, to] of [[t - 61 * 60_000 + 17_000, t], [t, t + 75 * 60_000], [t - 5 * 3600_000 - 7 * 60_000, t - 60_000], [t - 3 * 3600_000, t + 3 * 3600_000]] as const) {
          const expected = await values(want, from, to);
          expect(await values(rawSql, from, to), `${name} ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`).toEqual(expected);
          answers.add(JSON.stringify(expected));
        }
      }
      // the ranges tell values apart (a query that ignored the range would fail), except where one value is all there is
      if (name === 'status_code' || name === 'endpoint') expect(answers.size, name).toBeGreaterThan(2);
    }
  });

  it('most used endpoints and error rate per institution', async () => {
    const endpoints = await panel('insights', 'Most used endpoints');
    expect(endpoints[0]).toMatchObject({ endpoint: '/api/accounts/' });
    expect(endpoints.reduce((s, r) => s + num(r.requests), 0)).toBe(fixture.logs.length);
    const rates = await panel('insights', 'Error rate per institution');
    expect(rates.every((r) => num(r.error_rate) >= 0 && num(r.error_rate) <= 1)).toBe(true);
    expect(rates.some((r) => r.institution === institutions.gotham && num(r.error_rate) === 1)).toBe(true);
  });
});

describe('Insights reads the narrow rollup while endpoint, method and source are All', () => {
  const narrowPanels = ['Requests', 'Most common errors', 'Errors per institution', 'Internal vs institution errors'];
  const insights = () => board('insights');

  /** Rows ClickHouse plans to read per table (EXPLAIN ESTIMATE): a constant-false branch reads none. */
  async function rowsRead(title: string, pick: Record<string, string[]> = {}, intervalMs = 60_000): Promise<Record<string, number>> {
    const sql = expandQuery(panelByTitle(insights(), title).targets![0]!.rawSql, { ...(await context(insights(), 'all', {}, pick)), intervalMs });
    const rows = await run(`EXPLAIN ESTIMATE ${sql}`);
    return Object.fromEntries(rows.map((r) => [String(r.table), num(r.rows)]));
  }

  it.each(narrowPanels)('%s: request_status_1m as opened, request_stats_1m once endpoint, method or source filters', async (title) => {
    const opened = await rowsRead(title);
    expect(opened.request_status_1m).toBeGreaterThan(0);
    expect(opened.request_stats_1m ?? 0).toBe(0);
    const picks: Record<string, string[]>[] = [{ endpoint: ['/api/accounts/'] }, { method: ['GET'] }, { source: ['dashboard'] }, { endpoint: ['/api/accounts/'], source: ['api'] }];
    for (const pick of picks) {
      const filtered = await rowsRead(title, pick);
      expect(filtered.request_stats_1m, JSON.stringify(pick)).toBeGreaterThan(0);
      expect(filtered.request_status_1m ?? 0, JSON.stringify(pick)).toBe(0);
    }
    // the filters both tables have keep the narrow one
    const narrowFilters = await rowsRead(title, { institution: [institutions.gotham], customer: ['acme'], status_code: ['428'] });
    expect(narrowFilters.request_stats_1m ?? 0).toBe(0);
  });

  it.each(narrowPanels)('%s: the same answer from either table (every option picked by hand reads request_stats_1m)', async (title) => {
    const everyOption = async (name: string) => options(insights().templating.list.find((v) => v.name === name)!);
    const asOpened = await panel('insights', title);
    expect(asOpened.length).toBeGreaterThan(0);
    for (const name of ['endpoint', 'method', 'source']) {
      expect(await panel('insights', title, { pick: { [name]: await everyOption(name) } }), name).toEqual(asOpened);
    }
  });

  it('error rate per institution: request_errors_1m as opened (request_errors_5m at intervals of whole 5 minutes), request_status_1m once a status filters, request_stats_1m once endpoint, method or source', async () => {
    const title = 'Error rate per institution';
    const opened = await rowsRead(title);
    expect(opened.request_errors_1m).toBeGreaterThan(0);
    expect((opened.request_status_1m ?? 0) + (opened.request_stats_1m ?? 0)).toBe(0);
    const byInstitutionAndCustomer = await rowsRead(title, { institution: [institutions.gotham], customer: ['acme'] });
    expect(byInstitutionAndCustomer.request_errors_1m).toBeGreaterThan(0);
    expect((byInstitutionAndCustomer.request_status_1m ?? 0) + (byInstitutionAndCustomer.request_stats_1m ?? 0)).toBe(0);
    const byStatus = await rowsRead(title, { status_code: ['428'] });
    expect(byStatus.request_status_1m).toBeGreaterThan(0);
    expect((byStatus.request_errors_1m ?? 0) + (byStatus.request_stats_1m ?? 0)).toBe(0);
    const bySource = await rowsRead(title, { source: ['api'], status_code: ['428'] });
    expect(bySource.request_stats_1m).toBeGreaterThan(0);
    expect((bySource.request_errors_1m ?? 0) + (bySource.request_status_1m ?? 0)).toBe(0);
    // an interval of whole 5-minute buckets reads request_errors_5m (and request_errors_1m only at the range's edges)
    for (const intervalMs of [300_000, 600_000, 3_600_000]) {
      const coarse = await rowsRead(title, {}, intervalMs);
      expect(coarse.request_errors_5m, `${intervalMs} ms`).toBeGreaterThan(0);
      expect((coarse.request_status_1m ?? 0) + (coarse.request_stats_1m ?? 0)).toBe(0);
      const filtered = await rowsRead(title, { status_code: ['428'] }, intervalMs);
      expect((filtered.request_errors_5m ?? 0) + (filtered.request_errors_1m ?? 0)).toBe(0);
    }
    for (const intervalMs of [60_000, 120_000, 900_000 + 1000]) expect((await rowsRead(title, {}, intervalMs)).request_errors_5m ?? 0, `${intervalMs} ms`).toBe(0);
    // every option of a dropdown picked by hand reads another table and answers the same
    const asOpened = await panel('insights', title);
    for (const name of ['status_code', 'endpoint', 'method', 'source']) {
      const every = await options(insights().templating.list.find((v) => v.name === name)!);
      expect(await panel('insights', title, { pick: { [name]: every } }), name).toEqual(asOpened);
    }
  });

  it('error rate per institution equals the raw logs per minute and institution, unfiltered and by source', async () => {
    const minute = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000).toISOString().slice(0, 19).replace('T', ' ');
    const expected = (logs: Record<string, unknown>[]) => {
      const by = new Map<string, { requests: number; errors: number }>();
      for (const l of logs.filter((x) => x.institution)) {
        const key = `${minute(num(l.timestamp))} ${String(l.institution)}`;
        const b = by.get(key) ?? { requests: 0, errors: 0 };
        b.requests++;
        if (num(l.status_code) >= 400) b.errors++;
        by.set(key, b);
      }
      return Object.fromEntries([...by].map(([k, b]) => [k, b.errors / b.requests]));
    };
    const got = (rows: Row[]) => Object.fromEntries(rows.map((r) => [`${String(r.time)} ${String(r.institution)}`, num(r.error_rate)]));
    expect(got(await panel('insights', 'Error rate per institution'))).toEqual(expected(fixture.logs));
    const fromApi = await panel('insights', 'Error rate per institution', { pick: { source: ['api'] } });
    expect(got(fromApi)).toEqual(expected(fixture.logs.filter((l) => (l.source ?? 'api') === 'api')));
    const gets = await panel('insights', 'Errors per institution', { pick: { method: ['GET'] } });
    expect(Object.fromEntries(gets.map((r) => [r.institution, num(r.errors)]))).toEqual(
      count(fixture.logs.filter((l) => l.method === 'GET' && num(l.status_code) >= 400), (l) => String(l.institution)),
    );
  });
});

describe('Link detail: one link’s timeline', () => {
  const text = { link_id: ids.stuckLink };

  it('header shows the current state and last access', async () => {
    const [header] = await panel('link-detail', 'Link', { text });
    expect(header).toMatchObject({ link_id: ids.stuckLink, status: 'token_required', access_mode: 'recurrent', institution: institutions.gotham, external_id: 'user-bruno' });
    expect(header!.last_accessed_at).toBeTruthy();
  });

  it('latest API calls with their error bodies, status changes, webhook attempts, errors', async () => {
    const calls = await panel('link-detail', 'Latest API calls', { text });
    expect(calls).toHaveLength(fixture.logs.filter((l) => l.link_id === ids.stuckLink).length);
    expect(calls.filter((c) => c.status_code === 428).every((c) => JSON.parse(String(c.error_body)).code === 'token_required')).toBe(true);
    expect(calls.filter((c) => c.status_code === 200).every((c) => c.error_body === '')).toBe(true);

    const changes = await panel('link-detail', 'Status changes', { text });
    expect(changes.map((c) => c.status)).toEqual(['token_required', 'valid']);

    const attempts = await panel('link-detail', 'Webhook events', { text });
    expect(attempts.map((a) => [a.webhook_id, a.attempt, a.status_code])).toEqual([
      [ids.undeliveredWebhook, 3, null],
      [ids.undeliveredWebhook, 2, 502],
      [ids.undeliveredWebhook, 1, null],
    ]);

    const linkErrors = await panel('link-detail', 'Errors', { text });
    expect(linkErrors.map((e) => [e.status_code, e.error_code, num(e.errors)])).toEqual([[428, 'token_required', 5]]);
  });

  /** The link's records in the fixture, as the timeline should list them: newest first, then by kind. */
  function expectedTimeline(link: string, fromMs = -Infinity) {
    const rows = [
      ...fixture.logs.filter((l) => l.link_id === link).map((l) => ({ time: num(l.timestamp), kind: 'API call', id: String(l.request_id) })),
      ...fixture['webhook-attempts'].filter((a) => a.link_id === link).map((a) => ({ time: num(a.timestamp), kind: 'webhook', id: String(a.webhook_id) })),
      ...fixture.links.filter((l) => l.link_id === link).map((l) => ({ time: num(l.updated_at), kind: 'status change', id: String(l.status) })),
    ];
    return rows.filter((r) => r.time >= fromMs).sort((a, b) => b.time - a.time || (a.kind < b.kind ? -1 : 1));
  }
  const asMs = (t: unknown) => Date.parse(`${String(t).replace(' ', 'T')}Z`);
  const timelineRows = (rows: Row[]) =>
    rows.map((r) => ({ time: asMs(r.time), kind: String(r.kind), id: String(r.kind === 'API call' ? r.request_id : r.kind === 'webhook' ? r.webhook_id : r.status) }));

  it('timeline: API calls, webhook attempts and status changes of the link in one list, newest first', async () => {
    const rows = await panel('link-detail', 'Timeline', { text });
    expect(timelineRows(rows)).toEqual(expectedTimeline(ids.stuckLink));
    expect(rows.map((r) => Object.keys(r))[0]).toEqual(['time', 'kind', 'what', 'status', 'request_id', 'webhook_id']);
    const byKind = (kind: string) => rows.filter((r) => r.kind === kind);
    expect(byKind('API call').find((r) => r.request_id === ids.tokenRequiredRequest)).toMatchObject({ what: 'POST /api/transactions/', status: '428 token_required', webhook_id: '' });
    expect(byKind('webhook').map((r) => r.status)).toEqual(['no response: connection refused', '502', 'no response: timeout']);
    expect(byKind('webhook')[0]).toMatchObject({ webhook_id: ids.undeliveredWebhook, request_id: '', what: 'token_required (LINKS), attempt 3' });
    expect(byKind('status change').map((r) => r.status)).toEqual(['token_required', 'valid']);
  });

  it('timeline: bounded by the time range; another link shows only its own records', async () => {
    const ctx = await context(board('link-detail'), 'all', text);
    const lastDay = { ...ctx, fromMs: fixture.now - 24 * 3600_000 };
    const rows = await run(expandQuery(panelByTitle(board('link-detail'), 'Timeline').targets![0]!.rawSql, lastDay));
    expect(timelineRows(rows)).toEqual(expectedTimeline(ids.stuckLink, lastDay.fromMs));
    expect(rows.some((r) => r.status === 'valid')).toBe(false);
    const ana = await panel('link-detail', 'Timeline', { text: { link_id: ids.anaErebor } });
    expect(timelineRows(ana)).toEqual(expectedTimeline(ids.anaErebor));
  });

  it('timeline: every table is read through a sort key that starts with link_id (the raw tables through by_link)', async () => {
    const sql = expandQuery(panelByTitle(board('link-detail'), 'Timeline').targets![0]!.rawSql, await context(board('link-detail'), 'all', text));
    const reads = await primaryKeysByTable(sql);
    // the raw tables' branches are answered from their by_link projections (sql/010)
    expect(reads.map((r) => r.table).sort()).toEqual(['by_link', 'by_link', 'links']);
    for (const read of reads) expect(read.keys, read.table).toContain('link_id');
  });

  it('an empty link id shows nothing rather than every link', async () => {
    for (const title of ['Link', 'Timeline', 'Latest API calls', 'Webhook events', 'Status changes', 'Errors']) {
      expect(await panel('link-detail', title)).toEqual([]);
    }
  });
});

describe('Logs', () => {
  it('a range ending on the newest request, to the millisecond, shows it (and starting on the oldest, shows that)', async () => {
    const times = fixture.logs.map((l) => num(l.timestamp));
    const ctx = { ...(await context(board('logs'), 'all')), fromMs: Math.min(...times), toMs: Math.max(...times) };
    const rows = await run(expandQuery(panelByTitle(board('logs'), 'Requests').targets![0]!.rawSql, ctx));
    expect(rows).toHaveLength(fixture.logs.length);
    const justAfter = await run(expandQuery(panelByTitle(board('logs'), 'Requests').targets![0]!.rawSql, { ...ctx, fromMs: ctx.toMs + 1, toMs: ctx.toMs + 400 }));
    expect(justAfter).toEqual([]);
  });

  it('the error body of a known request_id: code, message, request_id', async () => {
    const rows = await panel('logs', 'Requests', { text: { request_id: ids.tokenRequiredRequest } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status_code: 428, method: 'POST', endpoint: '/api/transactions/', link_id: ids.stuckLink, institution: institutions.gotham });
    expect(JSON.parse(String(rows[0]!.error_body))).toEqual({
      code: 'token_required',
      message: 'A MFA token is required by the institution to login',
      request_id: ids.tokenRequiredRequest,
    });
  });

  it('no body for a 200, even one sent with a body', async () => {
    const rows = await panel('logs', 'Requests', { text: { request_id: ids.successfulRequest } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status_code: 200, error_body: '' });
    const all = await panel('logs', 'Requests');
    expect(all).toHaveLength(fixture.logs.length);
    for (const row of all) {
      if (num(row.status_code) < 400) expect(row.error_body).toBe('');
      else expect(JSON.parse(String(row.error_body))).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
  });

  it('searches by external_id and filters by response code and source', async () => {
    const ana = await panel('logs', 'Requests', { text: { external_id: 'user-ana' } });
    expect(new Set(ana.map((r) => r.link_id))).toEqual(new Set([ids.anaErebor, ids.anaOfelia]));
    const tokenErrors = await panel('logs', 'Requests', { pick: { status_code: ['428'] } });
    expect(tokenErrors).toHaveLength(5);
    const fromDashboard = await panel('logs', 'Requests', { pick: { source: ['dashboard'] } });
    expect(fromDashboard.map((r) => r.status_code).sort()).toEqual([200, 401]);
  });

  it('requests over time add up per response class', async () => {
    const rows = await panel('logs', 'Requests by response class');
    const totals = rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [String(r.response_class)]: (acc[String(r.response_class)] ?? 0) + num(r.requests) }), {});
    expect(totals).toEqual(count(fixture.logs, (l) => `${Math.floor(num(l.status_code) / 100)}xx`));
  });
});

describe('Events', () => {
  it('lists events with attempts and last response code', async () => {
    const rows = await panel('events', 'Webhook events');
    const byId = Object.fromEntries(rows.map((r) => [r.webhook_id, r]));
    expect(rows).toHaveLength(new Set(fixture['webhook-attempts'].map((a) => a.webhook_id)).size);
    expect(byId[ids.undeliveredWebhook]).toMatchObject({ event: 'token_required', type: 'LINKS', link_id: ids.stuckLink, last_response_code: null });
    expect(byId[ids.retriedWebhook]).toMatchObject({ event: 'new_transactions_available', last_response_code: 200 });
    expect([num(byId[ids.undeliveredWebhook]!.attempts), Boolean(byId[ids.undeliveredWebhook]!.delivered)]).toEqual([3, false]);
    expect([num(byId[ids.retriedWebhook]!.attempts), Boolean(byId[ids.retriedWebhook]!.delivered)]).toEqual([2, true]);
    const forLink = await panel('events', 'Webhook events', { text: { link_id: ids.anaErebor } });
    expect(forLink.map((r) => r.event).sort()).toEqual(['historical_update', 'new_accounts_available']);
  });

  it('detail shows the payload and each attempt', async () => {
    const text = { webhook_id: ids.undeliveredWebhook };
    const [detail] = await panel('events', 'Event detail', { text });
    expect(JSON.parse(String(detail!.payload))).toMatchObject({ webhook_id: ids.undeliveredWebhook, link_id: ids.stuckLink });
    const attempts = await panel('events', 'Delivery attempts', { text });
    expect(attempts.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, null, 'timeout'],
      [2, 502, ''],
      [3, null, 'connection refused'],
    ]);
  });

  it('failed deliveries, success rate and events by name agree with the attempts', async () => {
    const all = fixture['webhook-attempts'];
    const failed = await panel('events', 'Failed deliveries');
    expect(failed.reduce((s, r) => s + num(r.attempts), 0)).toBe(all.filter((a) => !(num(a.status_code) >= 200 && num(a.status_code) < 300)).length);
    const rate = await panel('events', 'Delivery success rate');
    expect(rate.length).toBeGreaterThan(0);
    expect(rate.every((r) => num(r.success_rate) >= 0 && num(r.success_rate) <= 1)).toBe(true);
    const byName = await panel('events', 'Events by name');
    const sums = byName.reduce<Record<string, number>>((acc, r) => ({ ...acc, [String(r.event)]: (acc[String(r.event)] ?? 0) + num(r.events) }), {});
    expect(sums).toEqual(count(all.filter((a) => a.attempt === 1), (a) => String(a.event)));
  });
});

describe('Links', () => {
  it('lists links with status, access mode, last access; searches and filters', async () => {
    const rows = await panel('links', 'Links');
    expect(rows).toHaveLength(new Set(fixture.links.map((l) => l.link_id)).size);
    const stuck = rows.find((r) => r.link_id === ids.stuckLink)!;
    expect(stuck).toMatchObject({ status: 'token_required', access_mode: 'recurrent', external_id: 'user-bruno', institution: institutions.gotham });
    expect(stuck.last_accessed_at).toBeTruthy();
    expect(rows.find((r) => r.link_id === ids.carlaErebor)!.last_accessed_at).toBeNull();

    expect((await panel('links', 'Links', { text: { external_id: 'user-ana' } })).map((r) => r.link_id).sort()).toEqual([ids.anaErebor, ids.anaOfelia]);
    expect((await panel('links', 'Links', { text: { link_id: ids.darioGotham } })).map((r) => r.link_id)).toEqual([ids.darioGotham]);
    expect((await panel('links', 'Links', { pick: { link_status: ['valid'] } })).length).toBe(3);
    expect((await panel('links', 'Links', { pick: { access_mode: ['single'] } })).map((r) => r.link_id)).toEqual([ids.anaOfelia]);
  });

  it('counts links by current status', async () => {
    const rows = await panel('links', 'Links by status');
    expect(Object.fromEntries(rows.map((r) => [r.status, num(r.links)]))).toEqual({ valid: 3, token_required: 1, invalid: 1 });
  });
});

describe('a text-box value cannot leave its string literal', () => {
  const payloads = [
    "x' OR '1'='1",
    "\\' OR 1=1 --",
    "'; DROP TABLE request_logs; --",
    'ends with a backslash\\',
    "lnk_bruno_gotham' OR link_id != '",
  ];

  it.each(payloads)('%s is searched for literally', async (payload) => {
    const rows = await panel('logs', 'Requests', { text: { link_id: payload } });
    expect(rows).toEqual([]);
    const ctx = await context(board('logs'), 'all', { link_id: payload });
    const [echo] = await run(expandQuery(`SELECT ${textValue('link_id')} AS v`, ctx));
    expect(echo!.v).toBe(payload.trim());
  });

  it("Grafana's singlequote alone would not hold against a backslash (why text boxes are percent-encoded)", async () => {
    const ctx = await context(board('logs'), 'all', { link_id: "\\' OR 1=1 --" });
    const rows = await run(expandQuery('SELECT count() AS n FROM request_logs WHERE link_id = ${link_id:singlequote}', ctx));
    expect(num(rows[0]!.n)).toBe(fixture.logs.length);
  });
});
