import type { BenchReport } from '../report.js';
import { WIDTH, type Chart } from './chart.js';

/** `--only=soak`: per minute, the ingest and freshness p99 and the memory that should not grow. */
export function soakChart(report: BenchReport): Chart | undefined {
  const s = report.soak;
  if (!s || s.minutes.length === 0) return undefined;
  const latency = s.minutes.flatMap((m) => [
    { minute: m.minute, figure: 'ingest p99', ms: m.ingestP99Ms },
    ...(m.freshnessP99Ms !== undefined ? [{ minute: m.minute, figure: 'freshness p99', ms: m.freshnessP99Ms }] : []),
  ]);
  const memory = s.minutes.flatMap((m) => [
    { minute: m.minute, figure: 'ingest RSS', mib: m.rssMiB.ingest },
    { minute: m.minute, figure: 'worker RSS', mib: m.rssMiB.worker },
    { minute: m.minute, figure: 'Redis used memory', mib: m.redisUsedMiB },
  ]);
  const x = { field: 'minute', type: 'quantitative', title: 'minute', axis: { tickMinStep: 1 } } as const;
  return {
    name: 'soak',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: `Soak at ${s.recordsPerSecond.toLocaleString('en-US')} records/s, minute by minute`, subtitle: `${report.mode} run ${report.startedAt}` },
      vconcat: [
        {
          width: WIDTH,
          height: 160,
          data: { values: latency },
          mark: { type: 'line', point: true },
          encoding: { x, y: { field: 'ms', type: 'quantitative', title: 'ms' }, color: { field: 'figure', type: 'nominal', title: null } },
        },
        {
          width: WIDTH,
          height: 160,
          data: { values: memory },
          mark: { type: 'line', point: true },
          encoding: { x, y: { field: 'mib', type: 'quantitative', title: 'MiB' }, color: { field: 'figure', type: 'nominal', title: null } },
        },
      ],
      resolve: { scale: { color: 'independent' } },
    },
  };
}
