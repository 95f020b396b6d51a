import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

/**
 * Every query in sql/examples/ runs against a small known world loaded through the real pipeline
 * (ingest -> queue -> worker -> embedded ClickHouse), with the parameters a user would pass, and
 * must give the answers that world implies. Expectations are computed from the fixture records.
 */
const examplesDir = join(import.meta.dirname, '..', 'sql', 'examples');
const exampleFiles = readdirSync(examplesDir).filter((f) => f.endsWith('.sql')).sort();

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const inst = { erebor: 'erebor_mx_retail', gotham: 'gotham_br_business', ofelia: 'ofelia_co_retail' } as const;
const ARTICLE_REQUEST = '3dc204d7ef12ff4f71152ad807307f19';
const tokenRequired = { code: 'token_required', message: 'A MFA token is required by the institution to login' };

type Rec = Record<string, unknown>;
interface Fixture {
  logs: Rec[];
  attempts: Rec[];
  links: Rec[];
}

/**
 * Eight links at three institutions for two customers. Bruno (acme) and Eva (globex) hit a
 * token_required storm at Gotham; Ana has internal 500s at Erebor; Fede's valid link went quiet three
 * days ago and Gia's was never called; two webhooks never got through; one old 428 and one old
 * failed webhook fall outside the usual windows. Latency is constant per institution and endpoint.
 */
function fixture(now: number): Fixture {
  const links: Rec[] = [];
  const link = (link_id: string, institution: string, access_mode: string, external_id: string, customer_id: string, createdAgo: number) =>
    (status: string, updatedAgo: number) =>
      links.push({ link_id, status, access_mode, institution, external_id, customer_id, created_at: now - createdAgo, updated_at: now - updatedAgo });
  const ana = link('lnk_ana_erebor', inst.erebor, 'recurrent', 'user-ana', 'acme', 3 * DAY);
  ana('unconfirmed', 3 * DAY);
  ana('valid', 3 * DAY - 5 * MIN);
  const bruno = link('lnk_bruno_gotham', inst.gotham, 'recurrent', 'user-bruno', 'acme', 2 * DAY);
  bruno('valid', 2 * DAY);
  bruno('token_required', 5 * HOUR);
  link('lnk_ana_ofelia', inst.ofelia, 'single', 'user-ana', 'acme', 10 * DAY)('valid', 10 * DAY);
  const carla = link('lnk_carla_erebor', inst.erebor, 'recurrent', 'user-carla', 'acme', 40 * DAY);
  carla('valid', 40 * DAY);
  carla('invalid', 20 * DAY);
  link('lnk_dario_gotham', inst.gotham, 'recurrent', 'user-dario', 'globex', 5 * DAY)('valid', 5 * DAY);
  const eva = link('lnk_eva_gotham', inst.gotham, 'recurrent', 'user-eva', 'globex', DAY);
  eva('valid', DAY);
  eva('token_required', 2 * HOUR);
  link('lnk_fede_erebor', inst.erebor, 'recurrent', 'user-fede', 'acme', 6 * DAY)('valid', 6 * DAY);
  link('lnk_gia_ofelia', inst.ofelia, 'single', 'user-gia', 'acme', DAY)('valid', DAY);

  const latency: Record<string, number> = {
    [`${inst.gotham} /api/transactions/`]: 850,
    [`${inst.gotham} /api/accounts/`]: 100,
    [`${inst.gotham} /api/balances/`]: 300,
    [`${inst.erebor} /api/accounts/`]: 120,
    [`${inst.erebor} /api/transactions/`]: 2000,
    [`${inst.ofelia} /api/links/`]: 400,
    [`${inst.ofelia} /api/transactions/`]: 700,
    ' /api/institutions/': 50,
  };
  const logs: Rec[] = [];
  let seq = 0;
  const call = (minutesAgo: number, who: Rec, r: Rec) => {
    const institution = String(who.institution ?? '');
    logs.push({
      request_id: `req-${String(++seq).padStart(3, '0')}`,
      timestamp: now - minutesAgo * MIN,
      source: 'api',
      customer_id: 'acme',
      duration_ms: latency[`${institution} ${String(r.endpoint)}`],
      ...who,
      ...r,
    });
  };
  const who = (link_id: string, external_id: string, institution: string, customer_id = 'acme') => ({ link_id, external_id, institution, customer_id });
  const brunoW = who('lnk_bruno_gotham', 'user-bruno', inst.gotham);
  const evaW = who('lnk_eva_gotham', 'user-eva', inst.gotham, 'globex');
  const anaE = who('lnk_ana_erebor', 'user-ana', inst.erebor);
  const anaO = who('lnk_ana_ofelia', 'user-ana', inst.ofelia);
  const dario = who('lnk_dario_gotham', 'user-dario', inst.gotham, 'globex');
  const fede = who('lnk_fede_erebor', 'user-fede', inst.erebor);
  const storm = { method: 'POST', endpoint: '/api/transactions/', status_code: 428, error: tokenRequired, error_origin: 'institution' };

  call(330, brunoW, { method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  call(320, brunoW, { method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  for (const m of [300, 240, 180, 120]) call(m, brunoW, storm);
  call(60, brunoW, { ...storm, request_id: ARTICLE_REQUEST, response_body: { ...tokenRequired, request_id: ARTICLE_REQUEST } });
  for (const m of [110, 100]) call(m, evaW, storm);
  for (const m of [55, 50, 40, 20, 15, 10]) call(m, anaE, { method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  for (const m of [30, 25]) {
    call(m, anaE, { method: 'GET', endpoint: '/api/transactions/', status_code: 500, error: { code: 'unexpected_error', message: 'Internal server error' }, error_origin: 'internal' });
  }
  call(200, anaO, { method: 'POST', endpoint: '/api/links/', status_code: 401, source: 'dashboard', error: { code: 'login_error', message: 'Invalid credentials provided to login to the institution' }, error_origin: 'institution' });
  call(190, anaO, { method: 'PATCH', endpoint: '/api/links/', status_code: 200, source: 'dashboard' });
  call(30 * 60, anaO, storm); // a 428 30 hours ago: outside a 24 h window
  for (const m of [45, 35, 25, 15]) call(m, dario, { method: 'GET', endpoint: '/api/balances/', status_code: 200 });
  call(72 * 60, fede, { method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  for (const m of [5, 4]) call(m, {}, { method: 'GET', endpoint: '/api/institutions/', status_code: 200 });

  const attempts: Rec[] = [];
  const webhook = (webhook_id: string, event: string, type: string, link_id: string, customer_id: string) =>
    (attempt: number, agoMs: number, status_code: number | null, error?: string) =>
      attempts.push({
        webhook_id, event, type, link_id, customer_id, attempt, status_code, error,
        url: `https://hooks.${customer_id}.example/belvo`,
        timestamp: now - agoMs,
        duration_ms: status_code === null ? 10_000 : 80,
        payload: { webhook_id, link_id, webhook_type: type, webhook_code: event },
      });
  const retried = webhook('wh_tx_dario', 'new_transactions_available', 'TRANSACTIONS', 'lnk_dario_gotham', 'globex');
  retried(1, 40 * MIN, 500);
  retried(2, 35 * MIN, 200);
  const bruno_ = webhook('wh_token_bruno', 'token_required', 'LINKS', 'lnk_bruno_gotham', 'acme');
  bruno_(1, 59 * MIN, null, 'timeout');
  bruno_(2, 54 * MIN, 502);
  bruno_(3, 44 * MIN, null, 'connection refused');
  webhook('wh_token_eva', 'token_required', 'LINKS', 'lnk_eva_gotham', 'globex')(1, 100 * MIN, 404);
  webhook('wh_hist_ana', 'historical_update', 'ACCOUNTS', 'lnk_ana_erebor', 'acme')(1, 50 * MIN, 200);
  webhook('wh_acc_ana', 'new_accounts_available', 'ACCOUNTS', 'lnk_ana_erebor', 'acme')(1, 20 * MIN, 200);
  webhook('wh_old_ofelia', 'new_balances_available', 'BALANCES', 'lnk_ana_ofelia', 'acme')(1, 10 * DAY, 500);

  return { logs, attempts, links };
}

let pipeline: TestPipeline;
let world: Fixture;
let now: number;

/** ClickHouse DateTime64 text ('YYYY-MM-DD hh:mm:ss.sss' in UTC, or ISO) as epoch ms. */
const ms = (v: unknown) => {
  const s = String(v);
  return new Date(/[zZ]$|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(' ', 'T')}Z`).getTime();
};
const within = (agoMs: number) => (r: Rec) => Number(r.timestamp) >= now - agoMs;

/** Runs an example file as written, binding its {name:Type} parameters with ClickHouse's own binder. */
async function example(file: string, params: Record<string, string | number> = {}): Promise<Rec[]> {
  const sql = readFileSync(join(examplesDir, file), 'utf8').trim().replace(/;$/, '');
  const declared = new Set([...sql.matchAll(/\{(\w+):[^{}]+\}/g)].map((m) => m[1]));
  expect([...declared].sort(), `${file} parameters`).toEqual(Object.keys(params).sort());
  const result = await pipeline.clickhouse.query({ query: sql, query_params: params, format: 'JSONEachRow' });
  return result.json<Rec>();
}

beforeAll(async () => {
  pipeline = await startTestPipeline();
  now = Date.now();
  world = fixture(now);
  for (const [kind, records] of [['links', world.links], ['logs', world.logs], ['webhook-attempts', world.attempts]] as const) {
    const res = await pipeline.post(kind, records);
    expect(res.status, kind).toBe(202);
  }
  await pipeline.waitForIdle();
});

afterAll(async () => {
  await pipeline?.close();
});

const tested = new Set<string>();
const story = (file: string, title: string, fn: () => Promise<void>) => {
  tested.add(file);
  it(`${file}: ${title}`, fn);
};

describe('sql/examples answer the debugging stories', () => {
  story('01_link_status.sql', 'a link found by link_id or by external_id, in its latest state', async () => {
    const [bruno, ...none] = await example('01_link_status.sql', { lookup: 'lnk_bruno_gotham' });
    expect(none).toEqual([]);
    expect(bruno).toMatchObject({ link_id: 'lnk_bruno_gotham', status: 'token_required', institution: inst.gotham, access_mode: 'recurrent', external_id: 'user-bruno' });
    expect(ms(bruno!.status_since)).toBe(now - 5 * HOUR);
    expect(bruno!.what_to_do).toMatch(/token/);

    // One user, two banks: the external_id finds both links.
    const ana = await example('01_link_status.sql', { lookup: 'user-ana' });
    expect(ana.map((r) => [r.link_id, r.status]).sort()).toEqual([['lnk_ana_erebor', 'valid'], ['lnk_ana_ofelia', 'valid']]);
  });

  story('02_link_last_access.sql', 'last access, calls and errors of a link', async () => {
    const [row] = await example('02_link_last_access.sql', { link_id: 'lnk_ana_erebor' });
    const calls = world.logs.filter((r) => r.link_id === 'lnk_ana_erebor');
    expect(ms(row!.last_request_at)).toBe(Math.max(...calls.map((r) => Number(r.timestamp))));
    expect(ms(row!.first_request_at)).toBe(Math.min(...calls.map((r) => Number(r.timestamp))));
    expect(Number(row!.calls)).toBe(calls.length);
    expect(Number(row!.failed_calls)).toBe(calls.filter((r) => Number(r.status_code) >= 400).length);
    expect(Number(row!.calls_last_7_days)).toBe(calls.length);
    expect(Number(row!.minutes_since_last_request)).toBeLessThanOrEqual(11);
  });

  story('03_link_last_calls.sql', 'the last calls of a link, newest first, error bodies only on errors', async () => {
    const rows = await example('03_link_last_calls.sql', { link_id: 'lnk_bruno_gotham' });
    const calls = world.logs.filter((r) => r.link_id === 'lnk_bruno_gotham').sort((a, b) => Number(b.timestamp) - Number(a.timestamp));
    expect(rows.map((r) => r.request_id)).toEqual(calls.map((r) => r.request_id));
    expect(rows[0]!.request_id).toBe(ARTICLE_REQUEST);
    expect(JSON.parse(String(rows[0]!.response_body))).toEqual({ ...tokenRequired, request_id: ARTICLE_REQUEST });
    for (const r of rows.filter((x) => Number(x.status_code) < 400)) expect(r.response_body).toBe('');
    expect(rows.filter((r) => Number(r.status_code) === 428).every((r) => r.error_code === 'token_required')).toBe(true);
  });

  story('04_link_webhooks.sql', "a link's webhooks and whether any attempt got through", async () => {
    const [hook, ...rest] = await example('04_link_webhooks.sql', { link_id: 'lnk_bruno_gotham' });
    expect(rest).toEqual([]);
    expect(hook).toMatchObject({ webhook_id: 'wh_token_bruno', event: 'token_required', type: 'LINKS', last_status_code: null, last_error: 'connection refused' });
    expect(Number(hook!.attempts)).toBe(3);
    expect(Number(hook!.delivered)).toBe(0);
    const dario = await example('04_link_webhooks.sql', { link_id: 'lnk_dario_gotham' });
    expect(dario.map((r) => [r.webhook_id, Number(r.delivered), Number(r.last_status_code)])).toEqual([['wh_tx_dario', 1, 200]]);
  });

  story('05_link_timeline.sql', 'calls, webhook attempts and status changes of a link in one timeline', async () => {
    const rows = await example('05_link_timeline.sql', { link_id: 'lnk_bruno_gotham' });
    const count = (kind: string) => rows.filter((r) => r.kind === kind).length;
    expect(count('api call')).toBe(world.logs.filter((r) => r.link_id === 'lnk_bruno_gotham').length);
    expect(count('webhook attempt')).toBe(world.attempts.filter((r) => r.link_id === 'lnk_bruno_gotham').length);
    expect(rows.filter((r) => r.kind === 'status change').map((r) => r.what)).toEqual(['status token_required', 'status valid']);
    const times = rows.map((r) => ms(r.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(rows.find((r) => r.what === 'token_required #3 -> no response')?.detail).toBe('connection refused');
  });

  story('06_token_required_storm.sql', 'a 428 storm by institution and customer, inside the window only', async () => {
    const rows = await example('06_token_required_storm.sql', { hours: 24 });
    const storm = world.logs.filter((r) => r.status_code === 428).filter(within(DAY));
    const expected = new Map<string, { n: number; links: Set<unknown> }>();
    for (const r of storm) {
      const key = `${String(r.institution)}|${String(r.customer_id)}`;
      const e = expected.get(key) ?? { n: 0, links: new Set() };
      e.n++;
      e.links.add(r.link_id);
      expected.set(key, e);
    }
    expect(rows.map((r) => [`${String(r.institution)}|${String(r.customer_id)}`, Number(r.responses_428), Number(r.links_affected)])).toEqual(
      [...expected].map(([k, e]) => [k, e.n, e.links.size]).sort((a, b) => Number(b[1]) - Number(a[1])),
    );
    expect(rows.map((r) => r.institution)).not.toContain(inst.ofelia); // its 428 is 30 hours old
    expect(rows.every((r) => storm.some((s) => s.request_id === r.sample_request_id))).toBe(true);
  });

  story('07_links_per_institution.sql', 'links per institution and access mode, by latest status', async () => {
    const rows = await example('07_links_per_institution.sql');
    const latest = new Map<string, Rec>();
    for (const l of world.links) {
      const seen = latest.get(String(l.link_id));
      if (!seen || Number(l.updated_at) > Number(seen.updated_at)) latest.set(String(l.link_id), l);
    }
    const groups = new Map<string, Rec[]>();
    for (const l of latest.values()) {
      const key = `${String(l.institution)}|${String(l.access_mode)}`;
      groups.set(key, [...(groups.get(key) ?? []), l]);
    }
    const got = Object.fromEntries(rows.map((r) => [`${String(r.institution)}|${String(r.access_mode)}`, r]));
    expect(Object.keys(got).sort()).toEqual([...groups.keys()].sort());
    for (const [key, ls] of groups) {
      const r = got[key]!;
      expect(Number(r.links), key).toBe(ls.length);
      for (const status of ['valid', 'token_required', 'invalid', 'unconfirmed']) {
        expect(Number(r[status]), `${key} ${status}`).toBe(ls.filter((l) => l.status === status).length);
      }
      expect(Number(r.created_last_30_days), key).toBe(ls.filter((l) => Number(l.created_at) >= now - 30 * DAY).length);
    }
    expect(Number(got[`${inst.erebor}|recurrent`]!.created_last_30_days)).toBe(2); // Carla's link is 40 days old
  });

  story('08_webhooks_never_delivered.sql', 'webhooks without any 2xx in the window, with their last answer', async () => {
    const rows = await example('08_webhooks_never_delivered.sql', { days: 7 });
    expect(rows.map((r) => r.webhook_id)).toEqual(['wh_token_bruno', 'wh_token_eva']);
    expect(rows.map((r) => Number(r.attempts))).toEqual([3, 1]);
    expect(rows[0]).toMatchObject({ customer_id: 'acme', last_status_code: null, last_error: 'connection refused' });
    expect(Number(rows[1]!.last_status_code)).toBe(404);
    const older = await example('08_webhooks_never_delivered.sql', { days: 30 });
    expect(older.map((r) => r.webhook_id)).toContain('wh_old_ofelia');
  });

  story('09_slowest_endpoints_per_institution.sql', 'the three slowest endpoints per institution by p95', async () => {
    const rows = await example('09_slowest_endpoints_per_institution.sql', { hours: 24 });
    const byInstitution = (i: string) => rows.filter((r) => r.institution === i).map((r) => [r.endpoint, Number(r.p95_ms)]);
    expect(byInstitution(inst.gotham)).toEqual([['/api/transactions/', 850], ['/api/balances/', 300], ['/api/accounts/', 100]]);
    // Fede's call (3 days ago) is outside the window; Erebor's slowest is its internal-error endpoint.
    expect(byInstitution(inst.erebor)).toEqual([['/api/transactions/', 2000], ['/api/accounts/', 120]]);
    expect(byInstitution(inst.ofelia)).toEqual([['/api/links/', 400]]);
    for (const r of rows) {
      const calls = world.logs.filter(within(DAY)).filter((l) => l.institution === r.institution && l.endpoint === r.endpoint);
      expect(Number(r.requests)).toBe(calls.length);
    }
  });

  story('10_p95_latency_per_endpoint.sql', 'p50/p95/p99 per endpoint across institutions', async () => {
    const rows = await example('10_p95_latency_per_endpoint.sql', { hours: 24 });
    const recent = world.logs.filter(within(DAY));
    expect(rows.map((r) => r.endpoint).sort()).toEqual([...new Set(recent.map((r) => r.endpoint))].sort());
    for (const r of rows) {
      const durations = recent.filter((l) => l.endpoint === r.endpoint).map((l) => Number(l.duration_ms)).sort((a, b) => a - b);
      expect(Number(r.requests), String(r.endpoint)).toBe(durations.length);
      // a digest quantile always lies between the smallest and largest observation, in order
      const [p50, p95, p99] = [Number(r.p50_ms), Number(r.p95_ms), Number(r.p99_ms)];
      expect(p50).toBeGreaterThanOrEqual(durations[0]!);
      expect(p99).toBeLessThanOrEqual(durations[durations.length - 1]!);
      expect(p50 <= p95 && p95 <= p99).toBe(true);
    }
    // /api/transactions/ mixes Erebor's 2000 ms internal errors with Gotham's 850 ms 428s: slowest.
    expect(rows[0]!.endpoint).toBe('/api/transactions/');
    expect(rows.find((r) => r.endpoint === '/api/institutions/')!.p95_ms).toBe(50);
  });

  story('11_errors_per_institution.sql', 'errors per institution, split by origin', async () => {
    const rows = await example('11_errors_per_institution.sql', { hours: 24 });
    const recent = world.logs.filter(within(DAY)).filter((r) => r.institution);
    for (const r of rows) {
      const calls = recent.filter((l) => l.institution === r.institution);
      const errors = calls.filter((l) => Number(l.status_code) >= 400);
      expect([Number(r.calls), Number(r.errors), Number(r.internal_errors), Number(r.institution_errors)], String(r.institution)).toEqual([
        calls.length,
        errors.length,
        errors.filter((l) => l.error_origin === 'internal').length,
        errors.filter((l) => l.error_origin === 'institution').length,
      ]);
    }
    expect(rows.map((r) => r.institution)).toEqual([inst.gotham, inst.erebor, inst.ofelia]);
    expect(Number(rows.find((r) => r.institution === inst.erebor)!.internal_errors)).toBe(2);
  });

  story('12_most_common_errors.sql', 'the most common errors: 428 token_required first', async () => {
    const rows = await example('12_most_common_errors.sql', { hours: 24 });
    expect(rows.map((r) => [Number(r.status_code), r.error_code, Number(r.responses)])).toEqual([
      [428, 'token_required', 7],
      [500, 'unexpected_error', 2],
      [401, 'login_error', 1],
    ]);
    expect(rows[0]!.institutions).toEqual([inst.gotham]);
    expect(rows[1]!.origins).toEqual(['internal']);
  });

  story('13_find_request.sql', 'a request_id from a support ticket leads to the call and its error body', async () => {
    const [row, ...rest] = await example('13_find_request.sql', { request_id: ARTICLE_REQUEST });
    expect(rest).toEqual([]);
    expect(row).toMatchObject({ link_id: 'lnk_bruno_gotham', external_id: 'user-bruno', institution: inst.gotham, error_code: 'token_required', error_message: tokenRequired.message });
    expect(Number(row!.status_code)).toBe(428);
    expect(JSON.parse(String(row!.response_body)).request_id).toBe(ARTICLE_REQUEST);
    expect(await example('13_find_request.sql', { request_id: 'no-such-request' })).toEqual([]);
  });

  story('14_stale_links.sql', 'valid links not called for a while, never-called first', async () => {
    const rows = await example('14_stale_links.sql', { hours: 48 });
    expect(rows.map((r) => [r.link_id, r.last_request_at === null ? null : ms(r.last_request_at)])).toEqual([
      ['lnk_gia_ofelia', null],
      ['lnk_fede_erebor', now - 72 * HOUR],
    ]);
    // A wider threshold: Fede's three-day silence no longer counts, Gia's link was still never called.
    expect((await example('14_stale_links.sql', { hours: 96 })).map((r) => r.link_id)).toEqual(['lnk_gia_ofelia']);
  });

  it('every example is run by a test above and opens with the question it answers', () => {
    expect([...tested].sort()).toEqual(exampleFiles);
    for (const f of exampleFiles) expect(readFileSync(join(examplesDir, f), 'utf8'), f).toMatch(/^-- .+\?/);
  });
});

describe('docs/schema.md', () => {
  it('documents every table, view and column the migrations create', async () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'schema.md'), 'utf8');
    const columns = await pipeline.rows<{ table: string; name: string }>(
      `SELECT table, name FROM system.columns WHERE database = '${pipeline.database}' AND table != 'schema_migrations' ORDER BY table, position`,
    );
    const tables = await pipeline.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${pipeline.database}'`);
    for (const { name } of tables) expect(doc, `table ${name}`).toContain(`\`${name}\``);
    const views = new Set((await pipeline.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${pipeline.database}' AND engine = 'MaterializedView'`)).map((r) => r.name));
    for (const { table, name } of columns) {
      if (views.has(table)) continue; // a view's columns are its target's
      const section = new RegExp(`### \`${table}\`[\\s\\S]*?(?=\\n### |$)`).exec(doc)?.[0] ?? '';
      expect(section, `${table}.${name}`).toMatch(new RegExp(`\\|\\s*\`${name}\`\\s*\\|`));
    }
    for (const f of exampleFiles) expect(doc, f).toContain(f);
  });
});
