import type { BenchReport } from '../report.js';
import { HEIGHT, TARGET_COLOR, WIDTH, type Chart } from './chart.js';

/** how many panels the chart shows: more lines than this cannot be told apart */
export const SLOWEST_PANELS = 12;
export const PANEL_TARGET_MS = 150;

/** "10M", "100k": how the bench names its data sizes */
function sizeLabel(requestLogs: number): string {
  return requestLogs >= 1e6 ? `${requestLogs / 1e6}M` : `${requestLogs / 1e3}k`;
}

/**
 * Dashboard panel and variable queries' p95 against the number of request logs: the slowest
 * SLOWEST_PANELS at the largest size, one line each, and the 150 ms target. Alert queries have their
 * own target (bench/report.ts) and are left out.
 */
export function panelsChart(report: BenchReport): Chart | undefined {
  const suites = [...(report.queries ?? [])].sort((a, b) => a.requestLogs - b.requestLogs);
  const largest = suites.at(-1);
  if (!largest) return undefined;
  const isPanel = (name: string) => !name.startsWith('alert /');
  const panels = largest.queries.filter((q) => isPanel(q.name));
  const slowest = [...panels].sort((a, b) => b.p95Ms - a.p95Ms).slice(0, SLOWEST_PANELS).map((q) => q.name);
  const rows = suites.flatMap((s) =>
    s.queries.filter((q) => slowest.includes(q.name)).map((q) => ({ panel: q.name, requestLogs: s.requestLogs, size: sizeLabel(s.requestLogs), p95Ms: q.p95Ms })),
  );
  const over = panels.filter((q) => q.p95Ms >= PANEL_TARGET_MS).length;
  const y = { field: 'p95Ms', type: 'quantitative', title: 'p95 (ms, log scale)', scale: { type: 'log' } } as const;
  return {
    name: 'panels',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `Panel p95 by data size: the ${slowest.length} slowest of ${panels.length} dashboard queries at ${sizeLabel(largest.requestLogs)} request logs`,
        subtitle: `${report.mode} run ${report.startedAt}; ${largest.repetitions} runs each after a warm-up; ${over} of ${panels.length} at or over ${PANEL_TARGET_MS} ms at ${sizeLabel(largest.requestLogs)}`,
      },
      width: WIDTH,
      height: HEIGHT,
      layer: [
        {
          data: { values: rows },
          mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 1.5 },
          encoding: {
            x: {
              field: 'requestLogs',
              type: 'quantitative',
              title: 'request logs (log scale)',
              scale: { type: 'log' },
              axis: { values: suites.map((s) => s.requestLogs), format: '~s' },
            },
            y,
            color: { field: 'panel', type: 'nominal', sort: slowest, title: 'panel', scale: { scheme: 'tableau20' }, legend: { title: `panel, slowest at ${sizeLabel(largest.requestLogs)} first` } },
          },
        },
        {
          data: { values: [{ p95Ms: PANEL_TARGET_MS, label: `target p95 < ${PANEL_TARGET_MS} ms` }] },
          mark: { type: 'rule', color: TARGET_COLOR, strokeDash: [6, 4], strokeWidth: 1.5 },
          encoding: { y },
        },
        {
          data: { values: [{ p95Ms: PANEL_TARGET_MS, label: `target p95 < ${PANEL_TARGET_MS} ms` }] },
          mark: { type: 'text', color: TARGET_COLOR, align: 'left', x: 0, dx: 4, dy: -6 },
          encoding: { y, text: { field: 'label' } },
        },
      ],
    },
  };
}
