import { createHash } from 'node:crypto';
import { postBatch, type IngestTarget } from '../producer/ingest-client.js';
import type { RecordKind } from '../schema/records.js';
import { generateScenario, planScenario, type Incident, type ScenarioName, type ScenarioOptions } from './scenarios.js';
import { TrafficGenerator, type TrafficBatch } from './traffic.js';

export interface ScenarioRun {
  name: ScenarioName;
  seed: number;
  from: number;
  to: number;
  incident?: Incident;
  posted: { logs: number; webhookAttempts: number; links: number };
  ms: number;
}

/** Records per POST: well under ingest's 10,000-record and 10 MiB limits. */
const CHUNK = 2000;
const RETRY = { attempts: 10, baseDelayMs: 250, maxDelayMs: 5000 };

/**
 * Posts through the real ingest API. Keys are derived from the run (seed, anchor time, position),
 * so re-running the same scenario with the same seed and --now is a harmless replay.
 */
class Poster {
  readonly posted = { logs: 0, webhookAttempts: 0, links: 0 };
  private pending: TrafficBatch = { logs: [], webhookAttempts: [], links: [] };
  private seq = 0;

  constructor(private readonly target: IngestTarget, private readonly runKey: string) {}

  /** Buffers a batch; ships whole chunks. Links go first so a state never trails the calls it explains. */
  async add(b: TrafficBatch) {
    this.pending.links.push(...b.links);
    this.pending.logs.push(...b.logs);
    this.pending.webhookAttempts.push(...b.webhookAttempts);
    if (this.pending.logs.length + this.pending.webhookAttempts.length + this.pending.links.length >= CHUNK) await this.flush();
  }

  async flush() {
    const p = this.pending;
    this.pending = { logs: [], webhookAttempts: [], links: [] };
    await this.send('links', p.links, 'links');
    await Promise.all([this.send('logs', p.logs, 'logs'), this.send('webhook-attempts', p.webhookAttempts, 'webhookAttempts')]);
  }

  private async send(kind: RecordKind, records: Record<string, unknown>[], counter: keyof Poster['posted']) {
    for (let i = 0; i < records.length; i += CHUNK) {
      const chunk = records.slice(i, i + CHUNK);
      const key = createHash('sha256').update(`${this.runKey}:${kind}:${this.seq++}`).digest('hex').slice(0, 40);
      const out = await postBatch(this.target, kind, chunk as never[], key, RETRY);
      if (!out.ok) throw new Error(`simulator: ingest refused ${kind} (${out.status ?? 'no response'}): ${out.error}`);
      if (out.rejected) throw new Error(`simulator: ingest rejected ${out.rejected} ${kind} records`);
      this.posted[counter] += out.accepted;
    }
  }
}

/** Generates a scenario and posts it through the ingest API; resolves once ingest accepted all of it. */
export async function runScenario(name: ScenarioName, target: IngestTarget, o: ScenarioOptions = {}): Promise<ScenarioRun> {
  const started = Date.now();
  const plan = planScenario(name, o);
  const poster = new Poster(target, `${name}:${plan.seed}:${plan.to}:${o.scale ?? 1}:${o.customerPrefix ?? ''}`);
  for (const batch of generateScenario(plan, o)) await poster.add(batch);
  await poster.flush();
  return { name, seed: plan.seed, from: plan.from, to: plan.to, incident: plan.incident, posted: poster.posted, ms: Date.now() - started };
}

/**
 * Streams live traffic at about `requestsPerSecond`, with the scenario's incident (if any) on the
 * whole time; for the demo and for watching alerts fire. Stop it with stop().
 */
export function streamLive(target: IngestTarget, o: ScenarioOptions & { scenario?: ScenarioName; requestsPerSecond?: number; onError?: (m: string) => void } = {}) {
  const scenario = o.scenario ?? 'normal';
  if (scenario === 'backfill') throw new Error('backfill is history only: run it without live mode');
  const conditions = planScenario(scenario, o).incident?.conditions ?? {};
  const traffic = new TrafficGenerator({ seed: o.seed, links: o.links, customerPrefix: o.customerPrefix });
  const rate = o.requestsPerSecond ?? 40;
  let stopped = false;
  const running = (async () => {
    let last = Date.now();
    const poster = new Poster(target, `live:${scenario}:${o.seed ?? 42}:${last}`);
    await poster.add({ logs: [], webhookAttempts: [], links: traffic.linkStates(last) });
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 1000));
      const t = Date.now();
      try {
        await poster.add(traffic.batch(last, t, Math.round((rate * (t - last)) / 1000), conditions));
        await poster.flush();
      } catch (err) {
        o.onError?.((err as Error).message);
      }
      last = t;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running.catch(() => {});
    },
  };
}
