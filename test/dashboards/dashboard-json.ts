import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedDir } from '../../dashboards/generate.js';
import { loadedVariables, type TemplateVariable, type VariableJson } from './grafana-expander.js';

/** The committed dashboard JSON, read the way Grafana's file provider reads it. */
export interface Target {
  refId: string;
  rawSql: string;
  format: number;
  queryType?: string;
  editorType?: string;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  interval?: string;
  maxDataPoints?: number;
  gridPos?: { w: number; h: number; x: number; y: number };
  options?: Record<string, unknown>;
  targets?: Target[];
  fieldConfig?: { overrides?: { matcher: { options: string }; properties: { id: string; value: unknown }[] }[] };
}
export interface Variable extends VariableJson {
  multi?: boolean;
  includeAll?: boolean;
  query?: string | { rawSql: string };
}
export interface DashboardJson {
  uid: string;
  title: string;
  timezone: string;
  panels: Panel[];
  templating: { list: Variable[] };
  links?: { includeVars: boolean; keepTime: boolean; tags: string[] }[];
  tags: string[];
  schemaVersion: number;
}

export function committedDashboards(): DashboardJson[] {
  const dir = join(generatedDir, 'dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as DashboardJson);
}

export function panelByTitle(board: DashboardJson, title: string): Panel {
  const panel = board.panels.find((p) => p.title === title);
  if (!panel) throw new Error(`${board.uid} has no panel "${title}"`);
  return panel;
}

export const queryPanels = (board: DashboardJson) => board.panels.filter((p) => p.type !== 'row');

/**
 * A board's variables as Grafana holds them after loading its JSON (grafana-expander.ts
 * loadedVariables), then some dropdowns picked and text boxes typed into, as a user would.
 * Dropdown options are not listed here (no engine): All stays All.
 */
export function boardVariables(board: DashboardJson, pick: Record<string, string[]> = {}, text: Record<string, string> = {}): Record<string, TemplateVariable> {
  const variables = loadedVariables(board.templating.list, () => []);
  for (const [name, value] of Object.entries(pick)) variables[name] = { ...variables[name], value };
  for (const [name, value] of Object.entries(text)) variables[name] = { value };
  return variables;
}
