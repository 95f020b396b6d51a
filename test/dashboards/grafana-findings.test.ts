import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedDir } from '../../dashboards/generate.js';
import { alertingProvisioning } from '../../dashboards/alerting.js';
import { dashboardProvisioning } from '../../dashboards/provisioning.js';
import { committedDashboards, queryPanels, type DashboardJson } from './dashboard-json.js';
import { expandQuery, loadedVariables, panelIntervalMs } from './grafana-expander.js';

/**
 * What a real Grafana 12 with grafana-clickhouse-datasource 4.20.0 does with the committed files,
 * one block per finding of issue 18, each modelled on the source it names. The queries themselves
 * run on the engine in queries.test.ts.
 */
const boards = committedDashboards();
const targets = (b: DashboardJson) => queryPanels(b).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));
const root = join(import.meta.dirname, '..', '..');

describe('1. text boxes as loaded', () => {
  it.each(boards.map((b) => [b.uid, b] as const))("%s: every text box holds '' and every query expands as the dashboard opens", (_uid, board) => {
    const variables = loadedVariables(board.templating.list, () => []);
    for (const v of board.templating.list.filter((x) => x.type === 'textbox')) expect(variables[v.name]!.value, v.name).toBe('');
    const ctx = { fromMs: 0, toMs: 3_600_000, intervalMs: 60_000, variables };
    // applyConditionalAll throws (as the plugin does) on a text box that loaded as undefined
    for (const { panel, target } of targets(board)) expect(() => expandQuery(target.rawSql, ctx), panel.title).not.toThrow();
  });
});

/**
 * The two provisioners' folder lookups: alerting by title at the root, creating a random uid
 * (pkg/services/provisioning/alerting/rules_provisioner.go getOrCreateFolderByTitle); dashboards by
 * folderUid when set, else by title, creating with the folderUid (pkg/services/provisioning/
 * dashboards/file_reader.go getOrCreateFolder).
 */
interface Folder {
  uid: string;
  title: string;
}
function provisionAlertFolder(folders: Folder[], title: string): void {
  if (!folders.some((f) => f.title === title)) folders.push({ uid: `random-${folders.length}`, title });
}
function provisionDashboardFolder(folders: Folder[], provider: { folder: string; folderUid?: string }): void {
  const found = provider.folderUid ? folders.find((f) => f.uid === provider.folderUid) : folders.find((f) => f.title === provider.folder);
  if (!found) folders.push({ uid: provider.folderUid ?? `random-${folders.length}`, title: provider.folder });
}

/** The folders the generated alerting files name, whatever the files are called. */
function alertFolders(): string[] {
  const dir = join(generatedDir, 'provisioning', 'alerting');
  return readdirSync(dir).flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/^\s+folder: "(.*)"$/gm)].map((m) => m[1]!));
}

describe('2. one folder for the dashboards and the alert rules', () => {
  const provider = dashboardProvisioning.providers[0]! as { folder: string; folderUid?: string };

  it('the alert rules name the dashboards folder', () => {
    expect(alertFolders().length).toBeGreaterThan(0);
    for (const folder of alertFolders()) expect(folder).toBe(provider.folder);
  });

  it.each([
    ['alerting first', ['alerting', 'dashboards']],
    ['dashboards first', ['dashboards', 'alerting']],
  ])('%s: a fresh Grafana ends with one folder', (_name, order) => {
    const folders: Folder[] = [];
    for (const step of order) {
      if (step === 'alerting') for (const title of alertFolders()) provisionAlertFolder(folders, title);
      else provisionDashboardFolder(folders, provider);
    }
    expect(folders).toHaveLength(1);
  });
});

/**
 * The plugin's SQL editor (src/components/SqlEditor.tsx, v4.20.0) saves
 * `format: mapQueryTypeToGrafanaFormat(queryType || 'table')` on the first edit (src/data/utils.ts).
 */
const formatOfQueryType: Record<string, number> = { table: 1, logs: 2, timeseries: 0, traces: 3 };

describe('4. queryType agrees with format', () => {
  it.each(boards.map((b) => [b.uid, b] as const))('%s: editing a query in the SQL editor keeps its format', (_uid, board) => {
    for (const { panel, target } of targets(board)) {
      const formatAfterEdit = formatOfQueryType[target.queryType || 'table'];
      expect(formatAfterEdit, `${panel.title}: queryType ${target.queryType}`).toBe(target.format);
    }
    const charts = queryPanels(board).filter((p) => p.type === 'timeseries');
    for (const chart of charts) expect(chart.targets![0]!.queryType, chart.title).toBe('timeseries');
  });

  it('every alert rule query carries the queryType of its format too', () => {
    const groups = alertingProvisioning().groups;
    const models = groups.flatMap((g) => g.rules.flatMap((r) => r.data.map((d) => d.model as { queryType?: string; format?: number; type?: string })));
    const queries = models.filter((m) => m.type === undefined);
    expect(queries.length).toBe(groups.length);
    for (const m of queries) expect(formatOfQueryType[m.queryType ?? ''], JSON.stringify(m.queryType)).toBe(m.format);
  });
});

/** Columns of type DateTime (whole seconds) in our schema: the only ones $__timeFilter is exact on. */
function secondColumns(): Set<string> {
  const dir = join(root, 'sql');
  const sql = readdirSync(dir).filter((f) => f.endsWith('.sql')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  return new Set([...sql.matchAll(/^\s+(\w+)\s+DateTime\(/gm)].map((m) => m[1]!));
}

describe('5. second-precision time filters only on second-precision columns', () => {
  const columns = secondColumns();

  it('the schema has DateTime minute columns (what $__timeFilter is for)', () => {
    expect([...columns]).toEqual(expect.arrayContaining(['minute', 'bucket']));
  });

  it.each(boards.map((b) => [b.uid, b] as const))('%s: every $__timeFilter(...) of a panel or variable query is on a DateTime column', (_uid, board) => {
    const queries = [
      ...targets(board).map(({ panel, target }) => ({ name: panel.title, sql: target.rawSql })),
      ...board.templating.list.filter((v) => v.type === 'query').map((v) => ({ name: `$${v.name}`, sql: typeof v.query === 'string' ? v.query : v.query!.rawSql })),
    ];
    for (const { name, sql } of queries) {
      for (const [, column] of sql.matchAll(/\$__timeFilter\(([^)]*)\)/g)) {
        expect(columns.has(column!.trim()), `${name}: $__timeFilter(${column}) cuts a DateTime64 to seconds`).toBe(true);
      }
    }
  });
});

describe('6. intervals and labels', () => {
  const fifteenMinutes = 15 * 60_000;

  it.each(boards.map((b) => [b.uid, b] as const))('%s: a chart over 15 minutes asks for whole-minute buckets', (_uid, board) => {
    for (const chart of queryPanels(board).filter((p) => p.type === 'timeseries')) {
      // a full-width panel on a wide screen: about 1900 pixels, the most points Grafana asks for
      const intervalMs = panelIntervalMs(fifteenMinutes, chart.maxDataPoints ?? 1900, chart.interval);
      expect(intervalMs, chart.title).toBeGreaterThanOrEqual(60_000);
      const sql = expandQuery(chart.targets![0]!.rawSql, { fromMs: 0, toMs: fifteenMinutes, intervalMs, variables: loadedVariables(board.templating.list, () => []) });
      for (const [, seconds] of sql.matchAll(/INTERVAL (\d+) second/g)) expect(Number(seconds) % 60, chart.title).toBe(0);
    }
  });

  it('bar labels are not cut to "..." (xTickLabelMaxLength 0 cuts every one)', () => {
    const bars = boards.flatMap((b) => queryPanels(b).filter((p) => p.type === 'barchart'));
    expect(bars.length).toBeGreaterThan(0);
    for (const bar of bars) expect(bar.options?.xTickLabelMaxLength, bar.title).toBeGreaterThanOrEqual(20);
  });
});
