import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chartsDirOf, chartsOf, renderSvg, writeCharts } from '../../bench/charts.js';
import type { StepResult } from '../../bench/end-to-end.js';
import type { QuerySuite } from '../../bench/query-bench.js';
import { summarise, type BenchReport } from '../../bench/report.js';

// The charts are read by people: each test checks what a reader takes from the SVG (a point per
// step at the report's value, which panels lie above the 150 ms line), through the accessible
// labels Vega writes on every mark (aria-label "field: value; ...") and the marks' positions.

function step(offered: number, accepted: number, visible: number, keptUp: boolean, extra: Partial<StepResult> = {}): StepResult {
  return {
    offeredRecordsPerSecond: offered,
    seconds: 15,
    warmupSeconds: 0,
    requests: Math.round((accepted * 15) / 500),
    acceptedRecordsPerSecond: accepted,
    visibleRecordsPerSecond: visible,
    rejectedRequests: { backpressure429: 0, other: 0, network: 0 },
    loadGeneratorBehind: false,
    keptUp,
    ingestLatencyMs: { p50: 9, p99: 31, max: 60 },
    loadGeneratorLoopDelayMs: { p99: 4.2, max: 11 },
    queueDepthJobs: { mean: 1, max: 4, atEnd: 0 },
    drainSeconds: 0.4,
    inserts: { perSecond: 10, rowsPerInsert: 500, byTable: {} },
    peakRssMiB: { ingest: 200, worker: 500 },
    redisUsedMemoryMiB: { max: 20, atEnd: 2 },
    cpuCores: { ingest: 0.5, worker: 0.7, redis: 0.1, loadGenerator: 0.2, machineLoadAverage: 2 },
    cpuMsPer1kRecords: { ingest: 8, worker: 14, redis: 2 },
    ...extra,
  };
}

/** the ramp of a full run: two kept steps, the third fell behind, one refine step, then half rate */
const STEPS = [step(20_000, 20_000, 19_950, true), step(28_000, 28_000, 27_700, true), step(39_200, 38_000, 30_100, false), step(33_131, 33_100, 32_800, true)];
const HALF = step(16_400, 16_400, 16_380, true, { seconds: 60, warmupSeconds: 5, requests: 1968, ingestLatencyMs: { p50: 11, p99: 38, max: 140 }, freshnessMs: { p50: 620, p99: 1450, max: 1800, batches: 1968 } });

function suite(requestLogs: number, scale: number): QuerySuite {
  // 16 dashboard queries (p95 from 10 to 160 ms at 10M) and 2 alert queries, the slowest of all
  const queries = Array.from({ length: 16 }, (_, i) => ({ name: `board / panel ${i + 1}`, p50Ms: ((i + 1) * 10 * scale) / 2, p95Ms: (i + 1) * 10 * scale, rows: 10, readRows: 1000 }));
  queries.push({ name: 'alert / evaluator query', p50Ms: 200, p95Ms: 400 * scale, rows: 20, readRows: 1000 }, { name: 'alert / Grafana rule query', p50Ms: 150, p95Ms: 300 * scale, rows: 20, readRows: 1000 });
  const slowest = queries.filter((q) => !q.name.startsWith('alert /')).reduce((a, b) => (a.p95Ms >= b.p95Ms ? a : b));
  return { requestLogs, repetitions: 20, queries, slowest, alertEvaluation: queries.at(-2)! };
}

function report(parts: Partial<Omit<BenchReport, 'summary'>>): BenchReport {
  const base = {
    version: 1 as const,
    mode: 'full' as const,
    startedAt: '2026-12-06T05:04:17.812Z',
    finishedAt: '2026-12-06T05:44:17.812Z',
    machine: { cores: 2, cpuModel: 'test', memoryGiB: 8, node: 'v20', loadAverageAtStart: [1, 1, 1], loadAverageAtEnd: [1, 1, 1] } as unknown as BenchReport['machine'],
    options: { e2e: { refineSteps: 3 } },
    ...parts,
  };
  return { ...base, summary: summarise(base) };
}

const endToEnd: BenchReport['endToEnd'] = {
  batchSize: 500,
  maxInFlight: 128,
  steps: STEPS,
  sustainedRecordsPerSecond: 32_800,
  sustainedStep: 3,
  saturatedRecordsPerSecond: 30_100,
  atHalfRate: HALF,
  beforeHalfRate: { waitedSeconds: 3, activeParts: 20, settled: true },
  peakRssOverRunMiB: { ingest: 250, worker: 600 },
};
const engine = { engineRowsPerSecond: 60_000 } as unknown as BenchReport['engine'];
const full = report({ endToEnd, engine, queries: [suite(1_000_000, 0.5), suite(10_000_000, 1)] });

interface Mark {
  fields: Record<string, string>;
  x: number;
  y: number;
}

/** The marks Vega drew with one aria role description, with their labelled fields and position. */
function marks(svg: string, role: string): Mark[] {
  const out: Mark[] = [];
  for (const m of svg.matchAll(/<(?:path|line)\b[^>]*>/g)) {
    const tag = m[0];
    if (!tag.includes(`aria-roledescription="${role}"`)) continue;
    const label = /aria-label="([^"]*)"/.exec(tag)![1]!.replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&amp;/g, '&');
    const fields = Object.fromEntries(label.split('; ').map((kv) => [kv.slice(0, kv.indexOf(': ')), kv.slice(kv.indexOf(': ') + 2)]));
    const at = /translate\(([-\d.e]+),([-\d.e]+)\)/.exec(tag) ?? /d="M([-\d.e]+),([-\d.e]+)/.exec(tag);
    out.push({ fields, x: Number(at![1]), y: Number(at![2]) });
  }
  return out;
}

async function svgOf(r: BenchReport, name: string): Promise<string> {
  const chart = chartsOf(r).find((c) => c.name === name);
  expect(chart, name).toBeDefined();
  return renderSvg(chart!.spec);
}

describe('bench charts', () => {
  it('ramp: one point per step and series at the report’s rate, the sustained rate and the 0.5 × engine target', async () => {
    const svg = await svgOf(full, 'ramp');
    const points = marks(svg, 'point');
    const labels = ['ramp 1', 'ramp 2', 'ramp 3', 'refine 1', 'half rate'];
    expect(points).toHaveLength(labels.length * 3);
    [...STEPS, HALF].forEach((s, i) => {
      const at = (series: string) => points.find((p) => p.fields.step === labels[i] && p.fields.series === series);
      expect(Number(at('offered')?.fields['records/s'])).toBe(s.offeredRecordsPerSecond);
      expect(Number(at('accepted (202)')?.fields['records/s'])).toBe(s.acceptedRecordsPerSecond);
      expect(Number(at('visible in ClickHouse')?.fields['records/s'])).toBe(s.visibleRecordsPerSecond);
    });
    // the step that fell behind: its visible point is drawn below its offered one, as a cross
    const behind = points.filter((p) => p.fields.step === 'ramp 3');
    expect(behind.find((p) => p.fields.series === 'visible in ClickHouse')!.y).toBeGreaterThan(behind.find((p) => p.fields.series === 'offered')!.y);
    expect(svg).toContain('fell behind');
    const rules = marks(svg, 'rule mark');
    expect(rules.map((r) => Number(r.fields['records/s'])).sort()).toEqual([30_000, 32_800]);
    expect(svg).toContain('sustained 32,800/s');
    expect(svg).toContain('target: 0.5 × engine raw insert = 30,000/s');
    // the sustained line sits at the height of the points with that rate
    const sustained = rules.find((r) => Number(r.fields['records/s']) === 32_800)!;
    const visibleRefine = points.find((p) => p.fields.step === 'refine 1' && p.fields.series === 'visible in ClickHouse')!;
    expect(sustained.y).toBeCloseTo(visibleRefine.y, 1);
  });

  it('latency: half-rate ingest and freshness percentiles with their targets', async () => {
    const svg = await svgOf(full, 'latency');
    const points = marks(svg, 'point');
    const ms = (measure: string, percentile: string) => Number(points.find((p) => p.fields.measure!.startsWith(measure) && p.fields.percentile === percentile)?.fields.ms);
    expect([ms('ingest', 'p50'), ms('ingest', 'p99'), ms('ingest', 'max')]).toEqual([11, 38, 140]);
    expect([ms('freshness', 'p50'), ms('freshness', 'p99'), ms('freshness', 'max')]).toEqual([620, 1450, 1800]);
    expect([ms('load generator', 'p99'), ms('load generator', 'max')]).toEqual([4.2, 11]);
    const ticks = marks(svg, 'tick');
    expect(ticks.map((t) => Number(t.fields['milliseconds (log scale)']))).toEqual([25, 2000]);
    // the ingest p99 (38 ms) misses its 25 ms target: its point is right of the target tick
    const ingestP99 = points.find((p) => p.fields.measure!.startsWith('ingest') && p.fields.percentile === 'p99')!;
    expect(ingestP99.x).toBeGreaterThan(ticks[0]!.x);
    expect(svg).toContain('target: p99 &lt; 25 ms');
  });

  it('panels: the 12 slowest dashboard queries at the largest size, by size, against the 150 ms line', async () => {
    const svg = await svgOf(full, 'panels');
    const points = marks(svg, 'point');
    const panels = [...new Set(points.map((p) => p.fields.panel))];
    // the slowest 12 of 16 at 10M are panels 5..16; alert queries have their own target and are left out
    expect(panels.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `board / panel ${i + 5}`).sort());
    expect(points).toHaveLength(24);
    const p16 = points.filter((p) => p.fields.panel === 'board / panel 16');
    expect(p16.map((p) => [p.fields['request logs (log scale)'], Number(p.fields['p95 (ms, log scale)'])])).toEqual([
      ['1M', 80],
      ['10M', 160],
    ]);
    expect(p16[1]!.x).toBeGreaterThan(p16[0]!.x);
    const [rule] = marks(svg, 'rule mark');
    expect(Number(rule!.fields['p95 (ms, log scale)'])).toBe(150);
    // what a reader looks for: exactly the points at or over 150 ms lie on or above the line
    for (const p of points) expect(p.y <= rule!.y + 0.01, JSON.stringify(p.fields)).toBe(Number(p.fields['p95 (ms, log scale)']) >= 150);
    expect(svg).toContain('2 of 16 at or over 150 ms at 10M');
    expect(svg).toContain('>10M<');
  });

  it('a partial report gets the charts of the phases it has, and no others', async () => {
    expect(chartsOf(full).map((c) => c.name)).toEqual(['ramp', 'latency', 'panels']);
    const queriesOnly = report({ queries: [suite(1_000_000, 1)] });
    expect(chartsOf(queriesOnly).map((c) => c.name)).toEqual(['panels']);
    expect(chartsOf(report({ endToEnd })).map((c) => c.name)).toEqual(['ramp', 'latency']);
    expect(chartsOf(report({}))).toEqual([]);
    // without the engine phase there is no 0.5 × engine target, only the sustained line
    const noEngine = marks(await svgOf(report({ endToEnd }), 'ramp'), 'rule mark');
    expect(noEngine.map((r) => Number(r.fields['records/s']))).toEqual([32_800]);
    // --rate=N runs one step and no ramp: latency only
    expect(chartsOf(report({ endToEnd: { ...endToEnd, steps: [], sustainedRecordsPerSecond: 2 * HALF.offeredRecordsPerSecond } })).map((c) => c.name)).toEqual(['latency']);
    // a half-rate step without freshness has no freshness row
    const noFreshness = report({ endToEnd: { ...endToEnd, atHalfRate: { ...HALF, freshnessMs: undefined } } });
    const latency = await svgOf(noFreshness, 'latency');
    expect(marks(latency, 'point').some((p) => p.fields.measure!.startsWith('freshness'))).toBe(false);
    expect(marks(latency, 'tick')).toHaveLength(1);
  });

  it('soak: one point per minute for each figure', async () => {
    const minutes = [1, 2, 3].map((minute) => ({
      minute,
      acceptedRecordsPerSecond: 40_000,
      ingestP99Ms: 20 + minute,
      freshnessP99Ms: 900 + minute,
      rssMiB: { ingest: 200, worker: 500 + minute, ingestPeak: 210, workerPeak: 520 },
      redisUsedMiB: 3,
      partsPerTable: {},
      rejectedRequests: { backpressure429: 0, other: 0, network: 0 },
      drainSeconds: 0.3,
    }));
    const soak = report({ soak: { recordsPerSecond: 40_000, minutes, lastOverFirst: {} } });
    expect(chartsOf(soak).map((c) => c.name)).toEqual(['soak']);
    const points = marks(await svgOf(soak, 'soak'), 'point');
    expect(points).toHaveLength(3 * 5);
    expect(points.filter((p) => p.fields.figure === 'worker RSS').map((p) => Number(p.fields.MiB))).toEqual([501, 502, 503]);
  });

  it('writeCharts and `npm run bench:charts` write the SVGs beside the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-charts-'));
    try {
      const written = await writeCharts(report({ endToEnd }), join(dir, 'direct'));
      expect(written.map((f) => f.slice(dir.length))).toEqual(['/direct/ramp.svg', '/direct/latency.svg']);

      const file = join(dir, '2026-12-06T05-04-17-812Z-full.json');
      writeFileSync(file, JSON.stringify(report({ queries: [suite(1_000_000, 1)] })));
      expect(chartsDirOf(file)).toBe(join(dir, '2026-12-06T05-04-17-812Z-full-charts'));
      const cli = (args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/charts/cli.ts', ...args], { encoding: 'utf8' });
      const { stdout } = await cli([file]);
      expect(stdout.trim()).toBe(join(chartsDirOf(file), 'panels.svg'));
      expect(readdirSync(chartsDirOf(file))).toEqual(['panels.svg']);
      expect(readFileSync(join(chartsDirOf(file), 'panels.svg'), 'utf8')).toMatch(/^<svg /);

      writeFileSync(join(dir, 'not-a-report.json'), '{"hello": 1}');
      const bad = await cli([join(dir, 'not-a-report.json')]).catch((e: { code: number; stderr: string }) => e);
      expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('is not a bench report') });
      expect(existsSync(join(dir, 'not-a-report-charts'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
