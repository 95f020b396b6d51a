import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Chart } from './charts/chart.js';
import { latencyChart } from './charts/latency.js';
import { panelsChart } from './charts/panels.js';
import { rampChart } from './charts/ramp.js';
import { soakChart } from './charts/soak.js';
import type { BenchReport } from './report.js';

/**
 * Charts of a bench report, drawn with Vega-Lite and rendered to SVG by Vega in Node (no browser,
 * no canvas: Vega then estimates text widths from the font size, close enough for axis labels).
 * A chart whose phase is not in the report (`--only=queries`) is left out.
 */
export function chartsOf(report: BenchReport): Chart[] {
  return [rampChart(report), latencyChart(report), panelsChart(report), soakChart(report)].filter((c): c is Chart => c !== undefined);
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec, { config: CONFIG }).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Without a canvas Vega overestimates text widths (0.8 x font size per character), so its default
 * label limits would cut panel names short: no limits, at the cost of some blank margin.
 */
const CONFIG = { legend: { labelLimit: 0, titleLimit: 0 }, axis: { labelLimit: 0 }, background: 'white' } as const;

/** bench/results/<stamp>-full.json -> bench/results/<stamp>-full-charts */
export function chartsDirOf(reportFile: string): string {
  return `${reportFile.replace(/\.json$/, '')}-charts`;
}

/** Writes `<dir>/<chart>.svg` for each chart the report has data for; returns the files written. */
export async function writeCharts(report: BenchReport, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const chart of chartsOf(report)) {
    const file = join(dir, `${chart.name}.svg`);
    writeFileSync(file, await renderSvg(chart.spec));
    files.push(file);
  }
  return files;
}
