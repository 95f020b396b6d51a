import { undeduplicatedInsert, type ClickHouseClient } from '../../clickhouse/client.js';
import { recordKinds } from '../../schema/records.js';

/** A link's state as a producer posts it (timestamps in ms). */
export interface LinkState {
  link_id: string;
  status: string;
  access_mode: string;
  institution: string;
  customer_id: string;
  external_id: string;
  created_at: number;
  updated_at: number;
}

/**
 * Inserts link states into `links` as the worker does (parsed by the record schema, mapped to its
 * row), in one insert: links_latest_mv writes them to links_latest as one part, so a later call
 * leaves its states unmerged beside these until the engine merges them (or merges are stopped).
 */
export async function insertLinkStates(ch: ClickHouseClient, states: LinkState[], batchId = 'links'): Promise<void> {
  const links = recordKinds.links;
  const values = states.map((s) => ({ ...links.mapping.toRow(links.schema.parse(s) as never), batch_id: batchId }));
  await ch.insert({ table: 'links', values, format: 'JSONEachRow', clickhouse_settings: undeduplicatedInsert });
}

/**
 * `count` links numbered from `first` (lnk_<n>), each in two states inserted apart (connected, then
 * its current one a minute later: valid, invalid or token_required), created within `spanMs` before
 * `end` and each called once, after its creation and within `callsSpanMs` before `callsUntil`;
 * generated inside the engine, for tests that need many links.
 */
export async function insertGeneratedLinks(ch: ClickHouseClient, o: { first: number; count: number; end: number; spanMs: number; callsUntil: number; callsSpanMs: number }): Promise<void> {
  // the i-th link's creation (ms): its call falls after it, as a real link's calls do
  const created = (i: string) => `toInt64(${o.end} - cityHash64(${i} + ${o.first}) % ${o.spanMs})`;
  for (const state of [0, 1]) {
    await ch.command({
      clickhouse_settings: undeduplicatedInsert,
      query: `
        INSERT INTO links (link_id, status, access_mode, institution, created_at, updated_at, external_id, customer_id, batch_id)
        SELECT concat('lnk_', toString(n)), ${state === 0 ? "'valid'" : "['valid', 'invalid', 'token_required'][1 + n % 3]"},
          if(n % 4 = 0, 'single', 'recurrent'), 'bank_a', created, created + toIntervalMinute(${state}), concat('user-', toString(n)), 'acme', 'links'
        FROM (SELECT number + ${o.first} AS n, fromUnixTimestamp64Milli(${created('number')}) AS created FROM numbers(${o.count}))`,
    });
  }
  // their calls: link_activity (and its monthly rollup) gets a row per link and day
  await ch.command({
    clickhouse_settings: undeduplicatedInsert,
    query: `
      INSERT INTO request_logs (request_id, timestamp, method, endpoint, status_code, link_id, institution, customer_id, batch_id)
      SELECT concat('req_', toString(number + ${o.first})),
        fromUnixTimestamp64Milli(toInt64(${o.callsUntil}) - toInt64(cityHash64(number, 1) % greatest(1, least(${o.callsSpanMs}, ${o.callsUntil} - ${created('number')})))),
        'GET', '/api/accounts/', if(number % 5 = 0, 500, 200), concat('lnk_', toString(${o.first} + number % ${o.count})), 'bank_a', 'acme', 'logs'
      FROM numbers(${o.count})`,
  });
}
