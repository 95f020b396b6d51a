import type { BenchReport } from '../report.js';
import { TARGET_COLOR, WIDTH, type Chart } from './chart.js';

// a '|' starts the axis label's second line: the target, marked by a red tick on the row
const INGEST = 'ingest latency (POST -> 202)|target: p99 < 25 ms';
const FRESHNESS = 'freshness (202 -> queryable)|target: p99 < 2,000 ms';
const LOOP = 'load generator event-loop delay';

/**
 * The half-rate step's latency percentiles on one log axis: ingest latency, freshness, and the load
 * generator's own event-loop delay (which bounds how late it may have timed a response), with the
 * targets of bench/report.ts summarise (ingest p99 < 25 ms, freshness p99 < 2000 ms).
 */
export function latencyChart(report: BenchReport): Chart | undefined {
  const h = report.endToEnd?.atHalfRate;
  if (!h) return undefined;
  const rows: { measure: string; percentile: string; ms: number }[] = [];
  const add = (measure: string, figures: Partial<Record<'p50' | 'p99' | 'max', number>> | undefined) => {
    for (const percentile of ['p50', 'p99', 'max'] as const) {
      const ms = figures?.[percentile];
      if (ms !== undefined && Number.isFinite(ms)) rows.push({ measure, percentile, ms });
    }
  };
  add(INGEST, h.ingestLatencyMs);
  add(FRESHNESS, h.freshnessMs);
  add(LOOP, h.loadGeneratorLoopDelayMs);
  const measures = [INGEST, FRESHNESS, LOOP].filter((m) => rows.some((r) => r.measure === m));
  const targets = [
    { measure: INGEST, plotted: 25 },
    { measure: FRESHNESS, plotted: 2000 },
  ].filter((t) => measures.includes(t.measure));
  // a log axis cannot show 0 ms: such a figure sits at 0.1 ms, the axis' floor
  const floor = 0.1;
  const values = rows.map((r) => ({ ...r, plotted: Math.max(r.ms, floor) }));
  const y = { field: 'measure', type: 'nominal', sort: measures, title: null, axis: { labelExpr: "split(datum.label, '|')" } } as const;
  const x = { field: 'plotted', type: 'quantitative', title: 'milliseconds (log scale)', scale: { type: 'log' } } as const;
  return {
    name: 'latency',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `Latency at half the sustained rate (${h.offeredRecordsPerSecond.toLocaleString('en-US')} records/s offered)`,
        subtitle: `${report.mode} run ${report.startedAt}; ${h.requests.toLocaleString('en-US')} requests over ${h.seconds} s`,
      },
      width: WIDTH,
      height: 60 * measures.length,
      layer: [
        {
          data: { values: targets },
          mark: { type: 'tick', color: TARGET_COLOR, thickness: 2, size: 30 },
          encoding: { y, x },
        },
        {
          data: { values },
          mark: { type: 'point', filled: true, size: 90 },
          encoding: {
            y,
            x,
            color: { field: 'percentile', type: 'nominal', sort: ['p50', 'p99', 'max'], title: null, legend: { orient: 'top' } },
            shape: { field: 'percentile', type: 'nominal', sort: ['p50', 'p99', 'max'] },
            tooltip: [{ field: 'measure' }, { field: 'percentile' }, { field: 'ms', title: 'ms' }],
          },
        },
        // p99 labelled above its point, p50 and max below: neighbours' labels do not overlap
        ...(['p50', 'p99', 'max'] as const).map((percentile) => ({
          data: { values: values.filter((v) => v.percentile === percentile) },
          mark: { type: 'text' as const, dy: percentile === 'p99' ? -13 : 14, fontSize: 9 },
          encoding: { y, x, text: { field: 'ms', type: 'quantitative' as const, format: ',' } },
        })),
      ],
    },
  };
}
