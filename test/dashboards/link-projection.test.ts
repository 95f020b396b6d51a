import type { ClickHouseSettings } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClickHouse, type ClickHouseClient } from '../../clickhouse/client.js';
import { migrate } from '../../clickhouse/migrate.js';
import { loadConfig } from '../../config/env.js';
import { generateQueryData } from '../../bench/query-data.js';
import { Progress } from '../../bench/progress.js';
import { committedDashboards, queryPanels } from './dashboard-json.js';
import { expandQuery } from './grafana-expander.js';

/**
 * The Link detail panels that read the raw tables are answered from the by_link projection
 * (sql/010: the columns they show, sorted by link_id), exactly as from the tables. The bench's
 * generated data (one link per 100 requests, over 8 days) at 400k request logs: several parts and
 * granules, as a real table has; the engine picks a projection only when it reads fewer marks.
 */
const dir = mkdtempSync(join(tmpdir(), 'link-projection-'));
const db = 'link_projection';
const now = Math.floor(Date.now() / 1000) * 1000 + 500;
const DAY = 86_400_000;
let ch: ClickHouseClient;
let linkId: string;

const board = committedDashboards().find((b) => b.uid === 'link-detail')!;
const rawPanels = queryPanels(board).flatMap((p) =>
  (p.targets ?? []).filter((t) => /FROM (request_logs|webhook_attempts)\b/.test(t.rawSql)).map((t) => ({ title: p.title, rawSql: t.rawSql })),
);
// Given each time: the embedded engine's session keeps a setting once given.
const viaProjection: ClickHouseSettings = { optimize_use_projections: 1 };
const withoutProjection: ClickHouseSettings = { optimize_use_projections: 0 };

async function plan(sql: string): Promise<string> {
  return (await ch.query({ query: `EXPLAIN indexes = 1, projections = 1 ${sql}`, format: 'TabSeparatedRaw', clickhouse_settings: viaProjection })).text();
}

async function answer(sql: string, settings: ClickHouseSettings): Promise<unknown[]> {
  return (await ch.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: settings })).json();
}

beforeAll(async () => {
  ch = createClickHouse(loadConfig({ CLICKHOUSE_DATA_DIR: join(dir, 'ch') }));
  await migrate(ch, { database: db });
  await generateQueryData({ client: ch, database: db, requestLogs: 400_000, existing: 0, nowMs: now, days: 8, progress: new Progress(true) });
  await ch.command({ query: `USE ${db}` });
  // A link with calls and webhook attempts in the last 7 days (Link detail's default range).
  const [row] = await (
    await ch.query({
      query: `SELECT link_id FROM ${db}.webhook_attempts WHERE link_id IN (SELECT link_id FROM ${db}.request_logs WHERE status_code >= 400) ORDER BY link_id LIMIT 1`,
      format: 'JSONEachRow',
    })
  ).json<{ link_id: string }>();
  linkId = row!.link_id;
}, 120_000);

afterAll(async () => {
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Link detail finds a link's rows through the by_link projection", () => {
  it('covers the raw-table panels (Timeline, Latest API calls, Webhook events, Errors)', () => {
    expect(rawPanels.map((p) => p.title).sort()).toEqual(['Errors', 'Latest API calls', 'Timeline', 'Webhook events']);
  });

  it.each(rawPanels)('$title: every raw-table read is answered from by_link, with the answer the tables give', async ({ rawSql }) => {
    const sql = expandQuery(rawSql, { fromMs: now - 7 * DAY, toMs: now + 60_000, intervalMs: 60_000, variables: { link_id: { value: linkId } } });
    const text = await plan(sql);
    const rawReads = (rawSql.match(/FROM (request_logs|webhook_attempts)\b/g) ?? []).length;
    expect((text.match(/ReadFromMergeTree \(by_link\)/g) ?? []).length).toBe(rawReads);
    expect(text).not.toMatch(/ReadFromMergeTree \(\w+\.(request_logs|webhook_attempts)\)/);
    const rows = await answer(sql, viaProjection);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(await answer(sql, withoutProjection));
  });
});
