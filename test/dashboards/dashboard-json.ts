import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedDir } from '../../dashboards/generate.js';

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
