import { buildCustomerDashboards } from '../../dashboards/customer-variant.js';
import { buildDashboards } from '../../dashboards/index.js';
import { queryPanels, type DashboardJson, type Variable } from '../dashboards/dashboard-json.js';
import { ALL, expandQuery, type TemplateVariable } from '../dashboards/grafana-expander.js';
import { A, B } from './world.js';
import type { Answer } from './engine-child.js';

export interface DashboardRun {
  board: string;
  panel: string;
  scenario: string;
  sql: string;
  answer: Answer;
}

const DAY = 24 * 3600_000;

/**
 * Every query of every dashboard as Grafana sends it through a data source whose default database
 * is `database`: variable queries first, then every panel target with All selected (or `pick`),
 * with the text boxes empty, filled with A's ids, and filled with B's ids.
 * `customer`: the customer variant, as customer A sees it through its tenant database.
 * `operator`: the operator's dashboards with `pick` (Customer = A), on the operator database.
 */
export function dashboardRuns(
  variant: 'customer' | 'operator',
  database: string,
  now: number,
  ask: (sql: string) => Answer,
  pick: Record<string, string[]> = {},
): DashboardRun[] {
  const runs: DashboardRun[] = [];
  const use = ask(`USE ${database}`);
  if (!use.ok) throw new Error(`USE ${database}: ${use.text}`);
  const boards = variant === 'customer' ? buildCustomerDashboards() : buildDashboards();
  const time = { fromMs: now - 7 * DAY, toMs: now + 60_000, intervalMs: 60_000 };
  const idsOf = (m: string) => ({ link_id: `lnk-${m}`, external_id: `ext-${m}`, request_id: `req-${m}-2`, webhook_id: `wh-${m}` });
  for (const board of boards.map((b) => JSON.parse(JSON.stringify(b)) as DashboardJson)) {
    const options = new Map<string, string[]>();
    for (const v of board.templating.list as Variable[]) {
      if (v.type === 'custom') options.set(v.name, String(v.query).split(',').map((s) => s.trim()));
      if (v.type !== 'query') continue;
      const rawSql = typeof v.query === 'string' ? v.query : v.query!.rawSql;
      const sql = expandQuery(rawSql, { ...time, variables: {} });
      const answer = ask(sql);
      runs.push({ board: board.uid, panel: `variable ${v.name}`, scenario: 'options', sql, answer });
      options.set(v.name, answer.ok ? answer.text.split('\n').filter(Boolean).map((l) => String(Object.values(JSON.parse(l) as object)[0])) : []);
    }
    for (const [scenario, text] of [
      ['All, text boxes empty', {}],
      ["All, A's ids", idsOf(A.marker)],
      ["All, B's ids", idsOf(B.marker)],
    ] as const) {
      const variables: Record<string, TemplateVariable> = {};
      for (const v of board.templating.list) {
        variables[v.name] = v.type === 'textbox' ? { value: (text as Record<string, string>)[v.name] ?? '' } : { value: pick[v.name] ?? [ALL], options: options.get(v.name) ?? [] };
      }
      for (const p of queryPanels(board)) {
        for (const t of p.targets ?? []) {
          const sql = expandQuery(t.rawSql, { ...time, variables });
          runs.push({ board: board.uid, panel: p.title, scenario, sql, answer: ask(sql) });
        }
      }
    }
  }
  return runs;
}
