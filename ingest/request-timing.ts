/**
 * Where one ingest request's time went, server side, sent back as a Server-Timing header
 * (W3C Server Timing: `name;dur=ms`, comma-separated): `body` (from the request's arrival to the
 * handler: reading the body, auth), `prepare` (parse, validate, encode), each Redis wait the request
 * made by name (`limits`, `claim`, `lookup`, `enqueue`, `store`), and `total` up to the response.
 * The bench reads it per request to find what the slowest 1% wait on (bench/end-to-end.ts); it holds
 * durations only, nothing about the data or the deployment.
 */
export class RequestTiming {
  private readonly entries: [string, number][] = [];
  private last: number;

  constructor(private readonly startedAt: number = performance.now()) {
    this.last = startedAt;
  }

  /** Closes a stage that ran up to now (synchronous work, or time before the handler). */
  mark(name: string): void {
    const now = performance.now();
    this.entries.push([name, now - this.last]);
    this.last = now;
  }

  /** Awaits one Redis wait and records it under `name` (a name seen twice adds up). */
  async wait<T>(name: string, p: Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await p;
    } finally {
      const now = performance.now();
      const seen = this.entries.find(([n]) => n === name);
      if (seen) seen[1] += now - t0;
      else this.entries.push([name, now - t0]);
      this.last = now;
    }
  }

  /** Each stage and `total` (last), in ms, as of now. */
  stages(): [string, number][] {
    return [...this.entries, ['total', performance.now() - this.startedAt]];
  }

  /** The header's value for `stages()`. */
  static header(stages: [string, number][]): string {
    return stages.map(([n, d]) => `${n};dur=${d.toFixed(2)}`).join(', ');
  }
}

/** Parses a Server-Timing value back into stage -> ms (entries without dur are skipped). */
export function parseServerTiming(value: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!value) return out;
  for (const part of value.split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.map((p) => /^\s*dur=([\d.]+)\s*$/.exec(p)?.[1]).find((d) => d !== undefined);
    if (name && dur !== undefined) out[name] = Number(dur);
  }
  return out;
}
