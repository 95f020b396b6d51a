import { undeduplicatedInsert, type ClickHouseClient } from '../clickhouse/client.js';
import type { Progress } from './progress.js';

/**
 * Request logs (and the webhook attempts and link states that go with them) generated inside the
 * engine with INSERT ... SELECT FROM numbers() into the raw tables, so the materialized views
 * fill the rollups exactly as the worker's inserts do. Deterministic: every value is a hash of
 * the row number. Spread over the last `days` days (the alert baseline needs 7 previous days).
 * Shapes follow demo/traffic.ts: 20 institutions, 8 customers, 10 endpoints, one link per 100
 * requests, about 15% errors with their bodies, a webhook attempt per 10 requests: two attempts
 * per event, the retry 1–30 minutes (hashed) after the first, both within the span.
 */
const INSTITUTIONS = Array.from({ length: 20 }, (_, i) => `institution_${String(i).padStart(2, '0')}`);
const CUSTOMERS = Array.from({ length: 8 }, (_, i) => `customer_${i}`);
const ENDPOINTS = [
  ['/api/transactions/', 'POST'],
  ['/api/accounts/', 'POST'],
  ['/api/balances/', 'POST'],
  ['/api/owners/', 'POST'],
  ['/api/links/', 'GET'],
  ['/api/links/', 'POST'],
  ['/api/links/{id}/', 'PATCH'],
  ['/api/links/{id}/', 'DELETE'],
  ['/api/transactions/', 'GET'],
  ['/api/invoices/', 'POST'],
];
const list = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

export const requestIdOf = (number: number) => `req_${number}`;

/** One request and its link, user and a webhook of that link: what a support engineer looks up. */
export async function entityOf(client: ClickHouseClient, db: string, requestId: string) {
  const rows = async <T>(query: string) => (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  const [log] = await rows<{ link_id: string; external_id: string }>(`SELECT link_id, external_id FROM ${db}.request_logs WHERE request_id = '${requestId}' LIMIT 1`);
  if (!log) throw new Error(`generated request ${requestId} not found`);
  const [webhook] = await rows<{ webhook_id: string }>(`SELECT webhook_id FROM ${db}.webhook_attempts WHERE link_id = '${log.link_id}' LIMIT 1`);
  return { request_id: requestId, link_id: log.link_id, external_id: log.external_id, webhook_id: webhook?.webhook_id ?? '' };
}

/**
 * Links `linkFrom` to `links - 1`, two states each (connected, then the current state), created
 * before the span of the requests: the link states of generateQueryData (bench/links-shape.ts too).
 */
export function linkStatesInsert(o: { db: string; nowMs: number; spanMs: number; linkFrom: number; links: number }): string {
  const { db, spanMs, linkFrom, links } = o;
  return `
INSERT INTO ${db}.links (link_id, status, access_mode, institution, created_at, updated_at, external_id, customer_id, batch_id)
SELECT
  concat('lnk_', toString(link)) AS link_id,
  if(state = 0, 'valid', ['valid', 'valid', 'valid', 'token_required', 'invalid', 'unconfirmed'][1 + cityHash64(link, 12) % 6]) AS status,
  if(cityHash64(link, 13) % 4 = 0, 'single', 'recurrent') AS access_mode,
  ${list(INSTITUTIONS)}[1 + link % ${INSTITUTIONS.length}] AS institution,
  fromUnixTimestamp64Milli(toInt64(${o.nowMs} - ${spanMs} - cityHash64(link, 14) % ${spanMs})) AS created_at,
  fromUnixTimestamp64Milli(toInt64(${o.nowMs} - if(state = 0, ${spanMs}, cityHash64(link, 15) % ${spanMs}))) AS updated_at,
  concat('user-', toString(link)) AS external_id,
  ${list(CUSTOMERS)}[1 + link % ${CUSTOMERS.length}] AS customer_id,
  'gen-links' AS batch_id
FROM (SELECT intDiv(number, 2) + ${linkFrom} AS link, number % 2 AS state FROM numbers(${(links - linkFrom) * 2}))`;
}

export async function generateQueryData(o: {
  client: ClickHouseClient;
  database: string;
  requestLogs: number;
  /** rows already there: generation is incremental (1M, then up to 10M) */
  existing: number;
  nowMs: number;
  days: number;
  progress: Progress;
}): Promise<void> {
  const db = o.database;
  const spanMs = o.days * 86_400_000;
  const links = Math.max(100, Math.floor(o.requestLogs / 100));
  const chunk = 1_000_000;
  const linkExpr = (h: string) => `(${h} % ${links})`;
  for (let from = o.existing; from < o.requestLogs; from += chunk) {
    const n = Math.min(chunk, o.requestLogs - from);
    o.progress.update(`generating request logs ${from + n}/${o.requestLogs}`);
    await o.client.command({
      clickhouse_settings: undeduplicatedInsert,
      query: `
INSERT INTO ${db}.request_logs (request_id, timestamp, method, endpoint, status_code, duration_ms, link_id, external_id,
  institution, source, customer_id, error_code, error_message, error_origin, response_body, batch_id)
SELECT
  concat('req_', toString(number)) AS request_id,
  fromUnixTimestamp64Milli(toInt64(${o.nowMs} - (cityHash64(number, 1) % ${spanMs}))) AS timestamp,
  ${list(ENDPOINTS.map((e) => e[1]!))}[1 + ep] AS method,
  ${list(ENDPOINTS.map((e) => e[0]!))}[1 + ep] AS endpoint,
  toUInt16(multiIf(s < 800, 200, s < 860, 201, s < 880, 204, s < 905, 428, s < 925, 400, s < 940, 404, s < 955, 408, s < 975, 500, s < 990, 502, 503)) AS status_code,
  toFloat32(80 + cityHash64(number, 3) % 2000) AS duration_ms,
  concat('lnk_', toString(link)) AS link_id,
  concat('user-', toString(link)) AS external_id,
  ${list(INSTITUTIONS)}[1 + link % ${INSTITUTIONS.length}] AS institution,
  if(cityHash64(number, 4) % 10 = 0, 'dashboard', 'api') AS source,
  ${list(CUSTOMERS)}[1 + link % ${CUSTOMERS.length}] AS customer_id,
  multiIf(status_code = 428, 'token_required', status_code = 400, 'request_error', status_code = 404, 'not_found',
          status_code = 408, 'institution_timeout', status_code = 500, 'unexpected_error', status_code = 502, 'institution_down',
          status_code = 503, 'institution_unavailable', '') AS error_code,
  if(error_code = '', '', concat('The institution answered ', toString(status_code))) AS error_message,
  multiIf(error_code = '', '', status_code IN (400, 404, 500), 'internal', 'institution') AS error_origin,
  if(status_code >= 400, concat('[{"code":"', error_code, '","message":"', error_message, '","request_id":"', request_id, '"}]'), '') AS response_body,
  concat('gen-', toString(intDiv(number, 1000))) AS batch_id
FROM (SELECT number, cityHash64(number, 2) % 1000 AS s, cityHash64(number, 5) % ${ENDPOINTS.length} AS ep, ${linkExpr('cityHash64(number, 6)')} AS link
      FROM numbers(${from}, ${n}))`,
    });
    const webhooks = Math.floor(n / 10);
    await o.client.command({
      clickhouse_settings: undeduplicatedInsert,
      query: `
INSERT INTO ${db}.webhook_attempts (webhook_id, event, type, link_id, attempt, url, status_code, timestamp, external_id, error, duration_ms, payload, customer_id, batch_id)
SELECT
  concat('wh_', toString(intDiv(number, 2))) AS webhook_id,
  ['new_transactions_available', 'new_accounts_available', 'new_balances_available', 'historical_update', 'token_required'][1 + cityHash64(number, 7) % 5] AS event,
  ['TRANSACTIONS', 'ACCOUNTS', 'BALANCES', 'LINKS', 'LINKS'][1 + cityHash64(number, 7) % 5] AS type,
  concat('lnk_', toString(link)) AS link_id,
  toUInt16(1 + number % 2) AS attempt,
  concat('https://hooks.', ${list(CUSTOMERS)}[1 + link % ${CUSTOMERS.length}], '.example/belvo') AS url,
  if(number % 2 = 0, if(cityHash64(number, 8) % 3 = 0, NULL, toUInt16(503)), toUInt16(200)) AS status_code,
  fromUnixTimestamp64Milli(toInt64(${o.nowMs} - retry_ms - (cityHash64(intDiv(number, 2), 9) % (${spanMs} - retry_ms)) + (number % 2) * retry_ms)) AS timestamp,
  concat('user-', toString(link)) AS external_id,
  if(status_code IS NULL, 'timeout', '') AS error,
  toFloat32(50 + cityHash64(number, 10) % 400) AS duration_ms,
  concat('{"webhook_id":"', webhook_id, '","link_id":"', link_id, '"}') AS payload,
  ${list(CUSTOMERS)}[1 + link % ${CUSTOMERS.length}] AS customer_id,
  concat('gen-wh-', toString(intDiv(number, 1000))) AS batch_id
FROM (SELECT number, ${linkExpr('cityHash64(intDiv(number, 2), 11)')} AS link, 60000 + cityHash64(intDiv(number, 2), 16) % 1740001 AS retry_ms
      FROM numbers(${Math.floor(from / 10)}, ${webhooks}))`,
    });
  }
  // Two states per link: connected, then its current state.
  const linkFrom = Math.floor(o.existing / 100);
  o.progress.update(`generating link states for ${links} links`);
  await o.client.command({ clickhouse_settings: undeduplicatedInsert, query: linkStatesInsert({ db, nowMs: o.nowMs, spanMs, linkFrom, links }) });
  const [n] = await (await o.client.query({ query: `SELECT count() AS n FROM ${db}.request_logs`, format: 'JSONEachRow' })).json<{ n: string }>();
  if (Number(n?.n) !== o.requestLogs) throw new Error(`generated ${n?.n} request logs, expected ${o.requestLogs}`);
}

/**
 * Waits until every table with `min_age_to_force_merge_seconds` (link_activity_lookup, sql/017) is
 * one part per partition: the state a live system keeps for parts older than that age. Queries
 * timed before it would measure the generator's burst of parts, which a live table never keeps.
 * A merge's part is new too, so the limit runs from the youngest part: that age plus the engine's
 * idle merge-selecting sleep (60 s) and slack, and 15 minutes in all.
 */
export async function waitForForcedMerges(o: { client: ClickHouseClient; database: string; progress: Progress }): Promise<{ waitedSeconds: number; merged: boolean }> {
  const started = Date.now();
  const rowsOf = async <T>(query: string) => (await o.client.query({ query, format: 'JSONEachRow' })).json<T>();
  const forced = (
    await rowsOf<{ name: string; engine_full: string }>(`SELECT name, engine_full FROM system.tables WHERE database = '${o.database}' AND engine_full LIKE '%min_age_to_force_merge_seconds%'`)
  ).map((t) => ({ name: t.name, ageSeconds: Number(/min_age_to_force_merge_seconds = (\d+)/.exec(t.engine_full)?.[1] ?? 0) }));
  if (forced.length === 0) return { waitedSeconds: 0, merged: true };
  const limitSeconds = Math.max(...forced.map((t) => t.ageSeconds)) + 90;
  const names = forced.map((t) => `'${t.name}'`).join(', ');
  for (;;) {
    const [worst] = await rowsOf<{ parts: string | number; youngest: string | number }>(
      `SELECT max(parts) AS parts, min(youngest) AS youngest FROM (SELECT count() AS parts, min(dateDiff('second', modification_time, now())) AS youngest FROM system.parts WHERE database = '${o.database}' AND active AND table IN (${names}) GROUP BY table, partition)`,
    );
    const waitedSeconds = Math.round((Date.now() - started) / 100) / 10;
    if (Number(worst?.parts ?? 0) <= 1) return { waitedSeconds, merged: true };
    if (Number(worst?.youngest) > limitSeconds || waitedSeconds > 900) return { waitedSeconds, merged: false };
    o.progress.update(`waiting for the forced merge of ${forced.map((t) => t.name).join(', ')} (${worst?.parts} parts in a partition, ${Math.round(waitedSeconds)} s)`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/**
 * Waits until the engine has no merge running in the database (twice in a row), up to a limit.
 * The data set is inserted in a burst just before the queries (and the end-to-end ramp overloads
 * the engine just before the half-rate step); timing them while the engine still merges that
 * burst would measure the merge, not the dashboards (or ingest at half rate). A live system has merged data
 * older than a few minutes; its new parts are small. (In the runs so far the merges were done
 * within a second of the last insert.)
 */
export async function waitForMerges(o: { client: ClickHouseClient; database: string; timeoutMs: number; progress: Progress }): Promise<{ waitedSeconds: number; activeParts: number; settled: boolean }> {
  const started = Date.now();
  const one = async <T>(query: string) => ((await (await o.client.query({ query, format: 'JSONEachRow' })).json<T>())[0])!;
  let quiet = 0;
  while (Date.now() - started < o.timeoutMs) {
    const { n } = await one<{ n: string | number }>(`SELECT count() AS n FROM system.merges WHERE database = '${o.database}'`);
    quiet = Number(n) === 0 ? quiet + 1 : 0;
    if (quiet >= 2) break;
    o.progress.update(`waiting for the engine to merge the new data (${n} merges running, ${Math.round((Date.now() - started) / 1000)} s)`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const { parts } = await one<{ parts: string | number }>(`SELECT count() AS parts FROM system.parts WHERE database = '${o.database}' AND active`);
  return { waitedSeconds: Math.round((Date.now() - started) / 100) / 10, activeParts: Number(parts), settled: quiet >= 2 };
}
