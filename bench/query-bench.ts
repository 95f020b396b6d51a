import type { ClickHouseClient } from '../clickhouse/client.js';
import { defaultRule } from '../alerting/rule.js';
import { evaluatorSql, grafanaRuleSql, sampleRequestIdsSql } from '../alerting/rule-sql.js';
import { committedDashboards, queryPanels, type DashboardJson, type Variable } from '../test/dashboards/dashboard-json.js';
import { ALL, expandMacros, expandQuery, type TemplateVariable } from '../test/dashboards/grafana-expander.js';
import type { Progress } from './progress.js';
import { percentile, round } from './stats.js';

/**
 * Every dashboard panel query and variable query, expanded exactly as Grafana and the ClickHouse
 * plugin expand them (test/dashboards/grafana-expander.ts), over each dashboard's default time
 * range, plus the alert rule (Grafana's query and the built-in evaluator's, and its evidence
 * query). Two dashboard states: as opened (dropdowns on All, text boxes empty) and looking up one
 * entity (text boxes filled with a link, user, request and webhook that exist).
 */
export interface QueryTiming {
  name: string;
  p50Ms: number;
  p95Ms: number;
  rows: number;
  /** rows the engine read for one run (the query summary's read_rows): what grows with the table */
  readRows: number;
}

export interface QuerySuite {
  requestLogs: number;
  repetitions: number;
  queries: QueryTiming[];
  slowest: QueryTiming;
  alertEvaluation: QueryTiming;
  /** how long the engine took to finish merging the generated data before the timings */
  merges?: { waitedSeconds: number; activeParts: number; settled: boolean };
  /** then the wait for the tables merged whole after an age (sql/017), as a live system keeps them */
  forcedMerge?: { waitedSeconds: number; merged: boolean };
  /** how long generating this size's new request logs (and their attempts and links) took: 100M is opt-in for this */
  generation?: { seconds: number; requestLogsAdded: number };
}

const DURATIONS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
function rangeMs(from: string): number {
  const m = /^now-(\d+)([mhd])$/.exec(from);
  if (!m) throw new Error(`time range ${from} not modelled`);
  return Number(m[1]) * DURATIONS[m[2]!]!;
}

/** Grafana's $__interval for a panel about 1000 px wide, rounded like its interval table (roughly). */
function intervalFor(range: number): number {
  const raw = range / 1000;
  const steps = [1000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000];
  return steps.find((s) => s >= raw) ?? 3_600_000;
}

interface BoardJson extends DashboardJson {
  time?: { from: string; to: string };
}

async function timed(client: ClickHouseClient, sql: string, params?: Record<string, unknown>): Promise<{ ms: number; rows: number; readRows: number }> {
  const t = performance.now();
  // JSON rather than JSONEachRow: its statistics carry the rows read, at no extra query
  const rs = await client.query({ query: sql, format: 'JSON', ...(params ? { query_params: params } : {}) });
  const body = await rs.json<unknown>();
  return { ms: performance.now() - t, rows: body.rows ?? body.data.length, readRows: Number(body.statistics?.rows_read ?? 0) };
}

export async function runQuerySuite(o: {
  client: ClickHouseClient;
  database: string;
  requestLogs: number;
  repetitions: number;
  nowMs: number;
  lookups: { link_id: string; external_id: string; request_id: string; webhook_id: string };
  progress: Progress;
  /** time only the queries whose name passes (a quicker check of a few panels) */
  only?: (name: string) => boolean;
}): Promise<QuerySuite> {
  // Panel SQL names tables without a database, like Grafana's datasource with defaultDatabase.
  await o.client.command({ query: `USE ${o.database}` });
  const cases: { name: string; sql: string; params?: Record<string, unknown> }[] = [];
  for (const board of committedDashboards() as BoardJson[]) {
    const range = rangeMs(board.time?.from ?? 'now-24h');
    const base = { fromMs: o.nowMs - range, toMs: o.nowMs, intervalMs: intervalFor(range) };
    const variables: Record<string, TemplateVariable> = {};
    for (const v of board.templating.list) {
      if (v.type === 'query') {
        const sql = expandQuery(variableSql(v), { ...base, variables: {} });
        cases.push({ name: `${board.uid} / variable ${v.name}`, sql });
        const rows = await (await o.client.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>();
        variables[v.name] = { value: [ALL], options: rows.map((r) => String(Object.values(r)[0])) };
      } else if (v.type === 'custom') {
        variables[v.name] = { value: [ALL], options: String(v.query).split(',').map((s) => s.trim()) };
      } else if (v.type === 'textbox') {
        variables[v.name] = { value: '' };
      }
    }
    const textBoxes = board.templating.list.filter((v) => v.type === 'textbox').map((v) => v.name);
    const filled = { ...variables };
    for (const name of textBoxes) filled[name] = { value: (o.lookups as Record<string, string>)[name] ?? '' };
    const states = textBoxes.length ? [['as opened', variables] as const, ['one entity', filled] as const] : [['as opened', variables] as const];
    for (const panel of queryPanels(board)) {
      for (const target of panel.targets ?? []) {
        for (const [state, vars] of states) {
          // link-detail shows nothing until a link is entered: only its entity state is realistic
          if (board.uid === 'link-detail' && state === 'as opened') continue;
          const suffix = (panel.targets?.length ?? 0) > 1 ? ` [${target.refId}]` : '';
          cases.push({ name: `${board.uid} / ${panel.title}${suffix} (${state})`, sql: expandQuery(target.rawSql, { ...base, variables: vars }) });
        }
      }
    }
  }
  const evalTime = Math.floor(o.nowMs / 1000);
  cases.push({ name: 'alert / Grafana rule query', sql: expandMacros(grafanaRuleSql(defaultRule), { fromMs: o.nowMs - 8 * 86_400_000, toMs: o.nowMs, intervalMs: 60_000 }) });
  cases.push({ name: 'alert / evaluator query', sql: evaluatorSql(defaultRule, o.database), params: { eval_time: evalTime } });
  const institution = await (await o.client.query({ query: `SELECT institution FROM ${o.database}.request_stats_1m ORDER BY minute DESC LIMIT 1`, format: 'JSONEachRow' })).json<{ institution: string }>();
  cases.push({
    name: 'alert / evidence query (sample request_ids)',
    sql: sampleRequestIdsSql(defaultRule, o.database),
    params: { window_start_ms: o.nowMs - 5 * 60_000, window_end_ms: o.nowMs, institution: institution[0]?.institution ?? '', customer_id: '' },
  });

  const queries: QueryTiming[] = [];
  const timedCases = o.only ? cases.filter((c) => o.only!(c.name)) : cases;
  for (const [i, c] of timedCases.entries()) {
    o.progress.update(`queries at ${o.requestLogs} request logs: ${i + 1}/${timedCases.length} ${c.name}`);
    await timed(o.client, c.sql, c.params); // warm-up: first run loads marks and caches, as a dashboard refresh would have
    const ms: number[] = [];
    let rows = 0;
    let readRows = 0;
    for (let r = 0; r < o.repetitions; r++) {
      const t = await timed(o.client, c.sql, c.params);
      ms.push(t.ms);
      rows = t.rows;
      readRows = t.readRows;
    }
    queries.push({ name: c.name, p50Ms: round(percentile(ms, 50)), p95Ms: round(percentile(ms, 95)), rows, readRows });
  }
  const dashboards = queries.filter((q) => !q.name.startsWith('alert /'));
  return {
    requestLogs: o.requestLogs,
    repetitions: o.repetitions,
    queries,
    slowest: dashboards.reduce((a, b) => (b.p95Ms > a.p95Ms ? b : a)),
    alertEvaluation: queries.find((q) => q.name === 'alert / evaluator query')!,
  };
}

function variableSql(v: Variable): string {
  return typeof v.query === 'string' ? v.query : v.query!.rawSql;
}
