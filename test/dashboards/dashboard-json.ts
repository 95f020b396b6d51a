import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedDir } from '../../dashboards/generate.js';
import { ALL, type TemplateVariable } from './grafana-expander.js';

/** The committed dashboard JSON, read the way Grafana's file provider reads it. */
export interface Target {
  refId: string;
  rawSql: string;
  format: number;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Target[];
  fieldConfig?: { overrides?: { matcher: { options: string }; properties: { id: string; value: unknown }[] }[] };
}
export interface Variable {
  type: string;
  name: string;
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

/** A board's variables with some dropdowns picked and text boxes filled; the rest All / empty (as opened). */
export function boardVariables(board: DashboardJson, pick: Record<string, string[]> = {}, text: Record<string, string> = {}): Record<string, TemplateVariable> {
  const variables: Record<string, TemplateVariable> = {};
  for (const v of board.templating.list) variables[v.name] = v.type === 'textbox' ? { value: text[v.name] ?? '' } : { value: pick[v.name] ?? [ALL], options: [] };
  return variables;
}
