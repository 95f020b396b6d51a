import type { BenchReport } from '../report.js';
import type { StepResult } from '../end-to-end.js';
import { HEIGHT, REFERENCE_COLOR, TARGET_COLOR, WIDTH, type Chart } from './chart.js';

const SERIES = [
  ['offered', 'offeredRecordsPerSecond'],
  ['accepted (202)', 'acceptedRecordsPerSecond'],
  ['visible in ClickHouse', 'visibleRecordsPerSecond'],
] as const;

/**
 * The step labels in run order. The ramp grows until a step does not keep up; then `refineSteps`
 * steps bisect, and one more step may confirm the best kept rate (bench/end-to-end.ts runEndToEnd).
 */
export function stepLabels(steps: StepResult[], refineSteps: number | undefined): string[] {
  const firstFailed = steps.findIndex((s) => !s.keptUp);
  const rampSteps = firstFailed < 0 ? steps.length : firstFailed + 1;
  return steps.map((_, i) => {
    if (i < rampSteps) return `ramp ${i + 1}`;
    const k = i - rampSteps + 1;
    return refineSteps === undefined || k <= refineSteps ? `refine ${k}` : 'confirm';
  });
}

/** The ramp and the half-rate step: offered, accepted and visible records/s per step. */
export function rampChart(report: BenchReport): Chart | undefined {
  const x = report.endToEnd;
  // `--rate=N` runs no ramp: its 'sustained' rate is 2 × N, not a measurement
  if (!x || x.steps.length === 0) return undefined;
  const refineSteps = (report.options.e2e as { refineSteps?: number } | undefined)?.refineSteps;
  const labels = [...stepLabels(x.steps, refineSteps), 'half rate'];
  const rows = [...x.steps, x.atHalfRate].flatMap((s, i) =>
    SERIES.map(([series, field]) => ({ step: labels[i]!, series, recordsPerSecond: s[field], keptUp: s.keptUp ? 'kept up' : 'fell behind' })),
  );
  const rules = [{ label: `sustained ${x.sustainedRecordsPerSecond.toLocaleString('en-US')}/s`, recordsPerSecond: x.sustainedRecordsPerSecond, color: REFERENCE_COLOR }];
  if (report.engine) {
    const target = Math.round(report.engine.engineRowsPerSecond / 2);
    rules.push({ label: `target: 0.5 × engine raw insert = ${target.toLocaleString('en-US')}/s`, recordsPerSecond: target, color: TARGET_COLOR });
  }
  const y = { field: 'recordsPerSecond', type: 'quantitative', title: 'records/s' } as const;
  return {
    name: 'ramp',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: 'End to end: offered, accepted and visible records/s per step', subtitle: `${report.mode} run ${report.startedAt}; a step keeps up when visible stays within 90% of accepted` },
      width: WIDTH,
      height: HEIGHT,
      layer: [
        {
          data: { values: rows },
          mark: { type: 'line', point: false, strokeWidth: 1.5 },
          encoding: {
            x: { field: 'step', type: 'ordinal', sort: labels, title: 'step (in run order)', axis: { labelAngle: labels.length > 10 ? -40 : 0 } },
            y,
            color: { field: 'series', type: 'nominal', sort: SERIES.map(([s]) => s), title: null, legend: { orient: 'top' } },
          },
        },
        {
          data: { values: rows },
          mark: { type: 'point', size: 70, strokeWidth: 2, filled: true },
          encoding: {
            x: { field: 'step', type: 'ordinal', sort: labels },
            y,
            color: { field: 'series', type: 'nominal', sort: SERIES.map(([s]) => s) },
            shape: { field: 'keptUp', type: 'nominal', title: 'step', scale: { domain: ['kept up', 'fell behind'], range: ['circle', 'cross'] }, legend: { orient: 'top' } },
          },
        },
        ...rules.flatMap((r) => referenceLine(r, y)),
      ],
    },
  };
}

/** A dashed horizontal line at a rate, labelled at its left end. */
function referenceLine(r: { label: string; recordsPerSecond: number; color: string }, y: { field: string; type: 'quantitative' }) {
  const data = { values: [r] };
  return [
    { data, mark: { type: 'rule' as const, strokeDash: [6, 4], strokeWidth: 1.5, color: r.color }, encoding: { y } },
    { data, mark: { type: 'text' as const, align: 'left' as const, dx: 4, dy: -6, x: 0, color: r.color }, encoding: { y, text: { field: 'label' } } },
  ];
}
