import type { TestPipeline } from '../helpers/pipeline.js';

/**
 * A small, known world in ingest input shape: five links at three institutions, a customer's
 * user stuck on token_required (the article's 428 story), internal 500s, a webhook that never
 * got through, and successful calls whose bodies must never show. Times are relative to `now`
 * so the raw tables' TTL keeps them.
 */
export const ids = {
  /** The article's error example: its request_id, code and message. */
  tokenRequiredRequest: '3dc204d7ef12ff4f71152ad807307f19',
  /** A 200 sent with a body (account data) that must never be shown. */
  successfulRequest: 'req-ok-ana-1',
  stuckLink: 'lnk_bruno_gotham',
  anaErebor: 'lnk_ana_erebor',
  anaOfelia: 'lnk_ana_ofelia',
  carlaErebor: 'lnk_carla_erebor',
  darioGotham: 'lnk_dario_gotham',
  undeliveredWebhook: 'wh_token_bruno',
  retriedWebhook: 'wh_tx_dario',
} as const;

export const institutions = { erebor: 'erebor_mx_retail', gotham: 'gotham_br_business', ofelia: 'ofelia_co_retail' } as const;

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

export interface FixtureRecords {
  now: number;
  logs: Record<string, unknown>[];
  'webhook-attempts': Record<string, unknown>[];
  links: Record<string, unknown>[];
}

export function fixtureRecords(now: number): FixtureRecords {
  const ago = (ms: number) => now - ms;
  const links: Record<string, unknown>[] = [];
  const state = (link_id: string, institution: string, access_mode: string, external_id: string, createdAgo: number, customer_id = 'acme') =>
    (status: string, updatedAgo: number) =>
      links.push({ link_id, status, access_mode, institution, external_id, customer_id, created_at: ago(createdAgo), updated_at: ago(updatedAgo) });

  const ana = state(ids.anaErebor, institutions.erebor, 'recurrent', 'user-ana', 3 * DAY);
  ana('unconfirmed', 3 * DAY);
  ana('valid', 3 * DAY - 5 * MIN);
  const bruno = state(ids.stuckLink, institutions.gotham, 'recurrent', 'user-bruno', 2 * DAY);
  bruno('valid', 2 * DAY);
  bruno('token_required', 5 * 60 * MIN);
  state(ids.anaOfelia, institutions.ofelia, 'single', 'user-ana', 10 * DAY)('valid', 10 * DAY);
  const carla = state(ids.carlaErebor, institutions.erebor, 'recurrent', 'user-carla', 40 * DAY);
  carla('valid', 40 * DAY);
  carla('invalid', 20 * DAY);
  state(ids.darioGotham, institutions.gotham, 'recurrent', 'user-dario', 5 * DAY, 'globex')('valid', 5 * DAY);

  const logs: Record<string, unknown>[] = [];
  let seq = 0;
  const log = (minutesAgo: number, r: Record<string, unknown>) =>
    logs.push({ request_id: `req-${String(++seq).padStart(3, '0')}`, timestamp: ago(minutesAgo * MIN), source: 'api', customer_id: 'acme', duration_ms: 120, ...r });
  const bruno_ = { link_id: ids.stuckLink, external_id: 'user-bruno', institution: institutions.gotham };
  const anaE = { link_id: ids.anaErebor, external_id: 'user-ana', institution: institutions.erebor };
  const anaO = { link_id: ids.anaOfelia, external_id: 'user-ana', institution: institutions.ofelia };
  const dario = { link_id: ids.darioGotham, external_id: 'user-dario', institution: institutions.gotham, customer_id: 'globex' };

  // Bruno's link worked, then the bank started asking for a token: five 428s.
  log(330, { ...bruno_, method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  log(320, { ...bruno_, method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  const tokenRequired = { code: 'token_required', message: 'A MFA token is required by the institution to login' };
  for (const minutesAgo of [300, 240, 180, 120]) {
    log(minutesAgo, { ...bruno_, method: 'POST', endpoint: '/api/transactions/', status_code: 428, error: tokenRequired, error_origin: 'institution' });
  }
  log(60, {
    ...bruno_,
    request_id: ids.tokenRequiredRequest,
    method: 'POST',
    endpoint: '/api/transactions/',
    status_code: 428,
    error: tokenRequired,
    error_origin: 'institution',
    response_body: { ...tokenRequired, request_id: ids.tokenRequiredRequest },
  });
  // Ana at Erebor: reads accounts; two internal errors on transactions.
  log(55, { ...anaE, request_id: ids.successfulRequest, method: 'GET', endpoint: '/api/accounts/', status_code: 200, response_body: { accounts: [{ number: '0042', balance: 1234.5 }] } });
  for (const minutesAgo of [50, 40, 20, 15, 10]) log(minutesAgo, { ...anaE, method: 'GET', endpoint: '/api/accounts/', status_code: 200 });
  for (const minutesAgo of [30, 25]) {
    log(minutesAgo, { ...anaE, method: 'GET', endpoint: '/api/transactions/', status_code: 500, error: { code: 'unexpected_error', message: 'Internal server error' }, error_origin: 'internal' });
  }
  // Ana at Ofelia, from the dashboard: a wrong password, then an update.
  log(200, { ...anaO, method: 'POST', endpoint: '/api/links/', status_code: 401, source: 'dashboard', error: { code: 'login_error', message: 'Invalid credentials provided to login to the institution' }, error_origin: 'institution' });
  log(190, { ...anaO, method: 'PATCH', endpoint: '/api/links/', status_code: 200, source: 'dashboard' });
  // Dario (another customer) reads balances.
  for (const minutesAgo of [45, 35, 25, 15]) log(minutesAgo, { ...dario, method: 'GET', endpoint: '/api/balances/', status_code: 200 });
  // Calls about no link at all.
  for (const minutesAgo of [5, 4]) log(minutesAgo, { method: 'GET', endpoint: '/api/institutions/', status_code: 200 });

  const attempts: Record<string, unknown>[] = [];
  const attempt = (webhook_id: string, event: string, type: string, link_id: string, customer_id: string) =>
    (n: number, minutesAgo: number, status_code: number | null, error?: string) =>
      attempts.push({
        webhook_id, event, type, link_id, customer_id, attempt: n, status_code, error,
        url: `https://hooks.${customer_id}.example/belvo`,
        timestamp: ago(minutesAgo * MIN),
        duration_ms: status_code === null ? 10_000 : 80,
        payload: { webhook_id, link_id, webhook_type: type, webhook_code: event, data: { count: 12 } },
      });
  const retried = attempt(ids.retriedWebhook, 'new_transactions_available', 'TRANSACTIONS', ids.darioGotham, 'globex');
  retried(1, 40, 500);
  retried(2, 35, 200);
  const undelivered = attempt(ids.undeliveredWebhook, 'token_required', 'LINKS', ids.stuckLink, 'acme');
  undelivered(1, 59, null, 'timeout');
  undelivered(2, 54, 502);
  undelivered(3, 44, null, 'connection refused');
  attempt('wh_hist_ana', 'historical_update', 'ACCOUNTS', ids.anaErebor, 'acme')(1, 50, 200);
  attempt('wh_acc_ana', 'new_accounts_available', 'ACCOUNTS', ids.anaErebor, 'acme')(1, 20, 200);

  return { now, logs, 'webhook-attempts': attempts, links };
}

/** The test pipeline (test/helpers/pipeline.ts): the fixture goes ingest API -> queue -> workers. */
export type FixtureTarget = Pick<TestPipeline, 'post' | 'waitForIdle'>;

/** Loads the fixture and returns the records it loaded (the tests derive expectations from them). */
export async function loadFixture(target: FixtureTarget, now = Date.now()): Promise<FixtureRecords> {
  const records = fixtureRecords(now);
  for (const kind of ['links', 'logs', 'webhook-attempts'] as const) {
    const res = await target.post(kind, records[kind]);
    if (res.status !== 202) throw new Error(`ingest refused the ${kind} fixture: ${res.status} ${await res.text()}`);
  }
  await target.waitForIdle();
  return records;
}
