import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClickHouse, type ClickHouseClient } from '../clickhouse/client.js';
import { migrate, MigrationRefused } from '../clickhouse/migrate.js';
import { loadConfig } from '../config/env.js';
import { recordKinds, type Row } from '../schema/records.js';

/**
 * Migration 018 on the real engine: link_activity_monthly becomes a view over link_activity_lookup,
 * and no month or call is lost or counted twice on the way. The databases are built as releases
 * left them: history logged before 016 (the lookup and its view did not exist yet), then 016 and
 * 017, then new logs that feed both tables. The lookup then lacks the history unless the backfill
 * of docs/schema.md ran.
 */
const dir = mkdtempSync(join(tmpdir(), 'obs-single-'));
let ch: ClickHouseClient;
const MIGRATION = '018_link_activity_single_table.sql';
/** migrate()'s `until`: the migrations after 018 are not this test's (it checks what 018 alone applies) */
const AFTER = '019';
const now = Date.now();
const MINUTE = 60_000;

beforeAll(() => {
  ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
});
afterAll(async () => {
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rows = async <T = Record<string, unknown>>(query: string) => (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
const count = async (query: string) => Number((await rows<{ n: string }>(query))[0]!.n);

/** n request logs on links [first, first + links), every 5th an error, spread over `spanMinutes` before `end`. */
function logs(tag: string, n: number, o: { first: number; links: number; end: number; spanMinutes: number }): Row[] {
  return Array.from({ length: n }, (_, i) =>
    recordKinds.logs.mapping.toRow(
      recordKinds.logs.schema.parse({
        request_id: `${tag}-${i}`,
        timestamp: o.end - ((i * 7919) % o.spanMinutes) * MINUTE,
        method: 'GET',
        endpoint: '/api/accounts/',
        status_code: i % 5 === 0 ? 500 : 200,
        link_id: `link-${o.first + (i % o.links)}`,
        institution: `bank-${i % 3}`,
        customer_id: 'acme',
      }) as never,
    ),
  );
}

/** As the worker inserts: its settings stay on the embedded session (a token included). */
const insertLogs = (db: string, batch: Row[]) =>
  ch.insert({
    table: `${db}.request_logs`,
    values: batch.map((r) => ({ ...r, batch_id: randomUUID() })),
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplicate: 1, insert_deduplication_token: randomUUID(), deduplicate_blocks_in_dependent_materialized_views: 1 },
  });

/** 80 days of history on links 0-9 (four months), logged before 016 created the lookup. */
const history = () => logs('old', 3_000, { first: 0, links: 10, end: now - 2 * 60 * MINUTE, spanMinutes: 80 * 24 * 60 });
/** The last hour on links 5-14: fed to both tables. */
const recent = () => logs('new', 400, { first: 5, links: 10, end: now, spanMinutes: 60 });

/** A database at migration 017 whose lookup never got the history. */
async function databaseWithoutBackfill(db: string) {
  await migrate(ch, { database: db, until: '016' });
  await insertLogs(db, history());
  await migrate(ch, { database: db, until: '018' });
  await insertLogs(db, recent());
}

/** Per link (and per link and month): calls, errors, last call. */
const raw = (db: string, by = 'link_id') =>
  rows(`SELECT ${by} AS k, toString(count()) AS n, toString(countIf(status_code >= 400)) AS e, toString(max(timestamp)) AS last
        FROM ${db}.request_logs GROUP BY k ORDER BY k`);
const rollup = (db: string, table: string, by = 'link_id') =>
  rows(`SELECT ${by} AS k, toString(sum(requests)) AS n, toString(sum(errors)) AS e, toString(max(last_request_at)) AS last
        FROM ${db}.${table} GROUP BY k ORDER BY k`);
const byMonth = 'tuple(month, link_id)';
const rawByMonth = 'tuple(toStartOfMonth(timestamp), link_id)';

const columns = (db: string, table: string) =>
  rows(`SELECT name, type FROM system.columns WHERE database = '${db}' AND table = '${table}' ORDER BY position`);
const engineOf = async (db: string, table: string) =>
  (await rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = '${db}' AND name = '${table}'`))[0]?.engine;
const applied = async (db: string) => (await rows<{ name: string }>(`SELECT name FROM ${db}.schema_migrations FINAL ORDER BY name`)).map((r) => r.name);

async function expectOneTableWithAllHistory(db: string, oldColumns: unknown) {
  const perLink = await raw(db);
  expect(perLink).toHaveLength(15);
  expect(await rollup(db, 'link_activity_lookup')).toEqual(perLink);
  expect(await rollup(db, 'link_activity_lookup', byMonth)).toEqual(await raw(db, rawByMonth));
  // analysts' SQL on the old name answers the same, with the old columns
  expect(await engineOf(db, 'link_activity_monthly')).toBe('View');
  expect(await columns(db, 'link_activity_monthly')).toEqual(oldColumns);
  expect(await rollup(db, 'link_activity_monthly', byMonth)).toEqual(await raw(db, rawByMonth));
  expect(await engineOf(db, 'link_activity_monthly_mv')).toBeUndefined();
  expect(await applied(db)).toContain(MIGRATION);
}

describe('migration 018: link_activity_lookup the one table', () => {
  it('embedded (the process alone writes): copies the history the lookup lacks, then the table becomes a view', async () => {
    const db = 'no_backfill';
    await databaseWithoutBackfill(db);
    const oldColumns = await columns(db, 'link_activity_monthly');
    expect(oldColumns.map((c) => (c as { name: string }).name)).toEqual(['month', 'link_id', 'institution', 'customer_id', 'last_request_at', 'requests', 'errors']);
    // the state the migration meets: link_activity_monthly has everything, the lookup the last hour
    expect(await rollup(db, 'link_activity_monthly')).toEqual(await raw(db));
    const lookupCalls = await count(`SELECT sum(requests) AS n FROM ${db}.link_activity_lookup`);
    expect(lookupCalls).toBe(400);

    expect(await migrate(ch, { database: db, exclusive: true, until: AFTER })).toEqual([MIGRATION]);
    await expectOneTableWithAllHistory(db, oldColumns);
    expect(await count(`SELECT sum(requests) AS n FROM ${db}.link_activity_lookup`)).toBe(3_400);

    // new calls go to the one table and show through the view
    await insertLogs(db, logs('later', 50, { first: 0, links: 15, end: now, spanMinutes: 30 }));
    expect(await rollup(db, 'link_activity_monthly')).toEqual(await raw(db));

    // Interrupted before its record: run again, it adds nothing.
    await ch.command({ query: `ALTER TABLE ${db}.schema_migrations DELETE WHERE name = '${MIGRATION}'`, clickhouse_settings: { mutations_sync: '1' } });
    expect(await migrate(ch, { database: db, exclusive: true, until: AFTER })).toEqual([MIGRATION]);
    await expectOneTableWithAllHistory(db, oldColumns);
    expect(await count(`SELECT sum(requests) AS n FROM ${db}.link_activity_lookup`)).toBe(3_450);
  });

  it('where the backfill already ran: nothing copied, nothing doubled, and no operator needed in any mode', async () => {
    const db = 'backfilled';
    await migrate(ch, { database: db, until: '016' });
    await insertLogs(db, history());
    await migrate(ch, { database: db, until: '018' });
    // docs/schema.md's backfill of 016, as an operator ran it then
    await ch.command({ query: `TRUNCATE TABLE ${db}.link_activity_lookup` });
    await ch.command({
      query: `INSERT INTO ${db}.link_activity_lookup
        SELECT month, link_id, cityHash64(link_id), anyLast(institution), anyLast(customer_id), max(last_request_at), sum(requests), sum(errors)
        FROM ${db}.link_activity_monthly GROUP BY month, link_id SETTINGS insert_deduplicate = 0`,
    });
    await insertLogs(db, recent());
    const oldColumns = await columns(db, 'link_activity_monthly');
    const lookupRows = await count(`SELECT count() AS n FROM ${db}.link_activity_lookup`);

    // not exclusive: the server-mode path, which refuses only when there is something to copy
    expect(await migrate(ch, { database: db, until: AFTER })).toEqual([MIGRATION]);
    await expectOneTableWithAllHistory(db, oldColumns);
    expect(await count(`SELECT count() AS n FROM ${db}.link_activity_lookup`)).toBe(lookupRows);
  });

  it('server mode, history missing: refuses and changes nothing, naming the statement; run, the migration goes on', async () => {
    const db = 'server_mode';
    await databaseWithoutBackfill(db);
    const oldColumns = await columns(db, 'link_activity_monthly');
    const refusal = await migrate(ch, { database: db }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(MigrationRefused);
    const message = (refusal as Error).message;
    expect(message).toContain(`migration ${MIGRATION}: `);
    expect(message).toContain('Stop every worker');
    // what it counts: one row per link and month the lookup lacks or holds less of
    const missing = await count(`SELECT count() AS n FROM (SELECT DISTINCT toStartOfMonth(timestamp), link_id FROM ${db}.request_logs WHERE timestamp < fromUnixTimestamp64Milli(toInt64(${now - 60 * MINUTE})))`);
    expect(message).toContain(`${missing} rows (links × months) of existing history`);
    expect(await applied(db)).not.toContain(MIGRATION);
    expect(await engineOf(db, 'link_activity_monthly')).toBe('AggregatingMergeTree');
    expect(await engineOf(db, 'link_activity_monthly_mv')).toBe('MaterializedView');
    expect(await count(`SELECT sum(requests) AS n FROM ${db}.link_activity_lookup`)).toBe(400);

    // The operator runs the named statement as it is, then migrates. On a session left holding a
    // token (the embedded connection keeps an insert's settings; here a row that adds nothing,
    // written to the lookup with one), the copy's first block would be dropped as a repeat of that
    // row's unless the statement clears the token itself.
    await ch.insert({
      table: `${db}.link_activity_lookup`,
      values: [{ month: `${new Date(now - 2 * 60 * MINUTE).toISOString().slice(0, 7)}-01`, link_id: 'link-0', link_hash: 0, institution: 'bank-0', customer_id: 'acme', last_request_at: 0, requests: 0, errors: 0 }],
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplicate: 1, insert_deduplication_token: 'left-on-the-session' },
    });
    const statement = /run once:\n([\s\S]+?);\n/.exec(message)?.[1];
    expect(statement).toMatch(new RegExp(`^INSERT INTO ${db}\\.link_activity_lookup `));
    await ch.command({ query: statement! });
    expect(await migrate(ch, { database: db, until: AFTER })).toEqual([MIGRATION]);
    await expectOneTableWithAllHistory(db, oldColumns);
  });

  it("docs/schema.md's statement for a database from before the lookup: adds what link_activity holds beyond it, and nothing a second time", async () => {
    const db = 'no_backfill'; // migrated to 018 above, every call in the lookup
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'schema.md'), 'utf8');
    const section = /### `link_activity_lookup`[\s\S]*?(?=\n### )/.exec(doc)![0];
    const statement = /```sql\n([\s\S]+?);\n```/.exec(section)![1]!.replaceAll('observability.', `${db}.`);
    const rowsBefore = await count(`SELECT count() AS n FROM ${db}.link_activity_lookup`);
    await ch.command({ query: statement });
    expect(await count(`SELECT count() AS n FROM ${db}.link_activity_lookup`)).toBe(rowsBefore);
    // the months of links 0-4 lost, as a database whose lookup never had them
    await ch.command({ query: `ALTER TABLE ${db}.link_activity_lookup DELETE WHERE link_id IN ('link-0', 'link-1', 'link-2', 'link-3', 'link-4')`, clickhouse_settings: { mutations_sync: '1' } });
    expect(await rollup(db, 'link_activity_lookup')).not.toEqual(await raw(db));
    await ch.command({ query: statement });
    expect(await rollup(db, 'link_activity_lookup', byMonth)).toEqual(await raw(db, rawByMonth));
    const rowsAfter = await count(`SELECT count() AS n FROM ${db}.link_activity_lookup`);
    await ch.command({ query: statement });
    expect(await count(`SELECT count() AS n FROM ${db}.link_activity_lookup`)).toBe(rowsAfter);
  });
});
