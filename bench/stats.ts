/** Order statistics for latency samples (nearest-rank) and medians of repeated runs. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Rounds for the report: 3 significant digits is what a 2-core machine under contention can tell apart. */
export function round(n: number, digits = 3): number {
  if (!Number.isFinite(n) || n === 0) return n;
  const scale = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(n))));
  return Math.round(n * scale) / scale;
}

export const ratio = (value: number, ceiling: number) => (ceiling > 0 ? round(value / ceiling) : Number.NaN);
