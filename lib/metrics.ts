/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges read at scrape time,
 * and histograms. Labels are fixed per metric so a typo cannot create a new series silently.
 */
type Labels = Record<string, string>;

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const fmtLabels = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const keyOf = (l: Labels) => JSON.stringify(Object.entries(l).sort());

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: string,
    readonly labelNames: readonly string[] = [],
  ) {}
  protected check(labels: Labels) {
    const names = Object.keys(labels).sort();
    if (names.join() !== [...this.labelNames].sort().join()) {
      throw new Error(`${this.name}: labels ${names.join()} != ${this.labelNames.join()}`);
    }
  }
  abstract lines(): Promise<string[]> | string[];
}

export class Counter extends Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }
  inc(labels: Labels = {}, by = 1): void {
    this.check(labels);
    const k = keyOf(labels);
    const e = this.values.get(k) ?? { labels, value: 0 };
    e.value += by;
    this.values.set(k, e);
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }
  lines() {
    return [...this.values.values()].map((e) => `${this.name}${fmtLabels(e.labels)} ${e.value}`);
  }
}

/** A gauge whose values are read when scraped. */
export class Gauge extends Metric {
  constructor(
    name: string,
    help: string,
    private readonly read: () => Promise<{ labels?: Labels; value: number }[]> | { labels?: Labels; value: number }[],
  ) {
    super(name, help, 'gauge');
  }
  async lines() {
    return (await this.read()).map((e) => `${this.name}${fmtLabels(e.labels ?? {})} ${e.value}`);
  }
}

export class Histogram extends Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
    labelNames: readonly string[] = [],
  ) {
    super(name, help, 'histogram', labelNames);
  }
  observe(value: number, labels: Labels = {}): void {
    this.check(labels);
    const k = keyOf(labels);
    const s = this.series.get(k) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
    this.series.set(k, s);
  }
  lines() {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${fmtLabels({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${fmtLabels({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${fmtLabels(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${fmtLabels(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  register<T extends Metric>(m: T): T {
    this.metrics.push(m);
    return m;
  }
  async render(): Promise<string> {
    const out: string[] = [];
    for (const m of this.metrics) {
      const lines = await m.lines();
      out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...lines);
    }
    return `${out.join('\n')}\n`;
  }
}

export const secondsBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
export const rowBuckets = [1, 10, 100, 1000, 5000, 10_000, 50_000, 100_000, 500_000] as const;
