import { DemoTraffic, type TrafficBatch } from './traffic.js';
import type { Conditions } from '../simulator/traffic.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** The incident a newcomer watches: an institution failing most calls for a couple of minutes. */
export interface DemoOutage {
  institution: string;
  /** After this long of live traffic... */
  afterMs: number;
  /** ...for this long... */
  durationMs: number;
  /** ...answering 5xx to this share of its calls. */
  share: number;
}
export const defaultOutage: DemoOutage = { institution: 'banco_azul_co', afterMs: MIN, durationMs: 2 * MIN, share: 0.8 };

/**
 * Posts demo traffic to a running ingest API: history (the last 24 h, plus the same hours on the
 * previous days so the alert rules have a baseline), then a live stream with one outage early on,
 * so the alerting (on in the demo) fires and resolves while someone watches.
 */
export function runDemo(o: { url: string; apiKey: string; log: (l: string) => void; requestsPerSecond?: number; seed?: number; outage?: DemoOutage | null }) {
  const rate = o.requestsPerSecond ?? 40;
  const outage = o.outage === undefined ? defaultOutage : o.outage;
  const traffic = new DemoTraffic(o.seed ?? 42);
  let stopped = false;
  let posted = 0;

  const post = async (path: string, records: unknown[]) => {
    if (records.length === 0) return;
    for (let attempt = 0; attempt < 5 && !stopped; attempt++) {
      try {
        const res = await fetch(`${o.url}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${o.apiKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(records),
        });
        if (res.status === 202) {
          posted += records.length;
          return;
        }
        const retryAfter = Number(res.headers.get('retry-after') ?? 1);
        if (res.status !== 429 && res.status !== 503) {
          o.log(`demo: ${path} answered ${res.status}: ${await res.text()}`);
          return;
        }
        await new Promise((r) => setTimeout(r, retryAfter * 1000));
      } catch {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const send = async (b: TrafficBatch) => {
    // links first, so a state change never arrives before the link exists
    await post('/v1/links', b.links);
    await Promise.all([post('/v1/logs', b.logs), post('/v1/webhook-attempts', b.webhookAttempts)]);
  };

  const running = (async () => {
    const now = Date.now();
    await post('/v1/links', traffic.linkStates(now - 24 * 3_600_000));
    // Baseline: the error-rate rule compares a window with the same window on previous days
    // (median), so the next 4 hours of this time of day on the 3 previous days, at 100 calls a
    // minute (above the rule's volume guard per institution). Without it the 5 % floor alone is the
    // threshold, and the simulator's usual ~4.5 % of 5xx sits right at it.
    for (let d = 3; d >= 1 && !stopped; d--) {
      for (let h = 0; h < 4 && !stopped; h++) {
        const from = now - d * DAY - 10 * MIN + h * HOUR;
        await send(traffic.batch(from, from + HOUR, 100 * 60));
      }
    }
    // history: 24 one-hour slices of the last day
    for (let h = 24; h > 0 && !stopped; h--) {
      await send(traffic.batch(now - h * HOUR, now - (h - 1) * HOUR, 1500));
    }
    o.log(`demo: posted history (${posted} records); now streaming about ${rate} requests/s`);
    const liveFrom = Date.now();
    const down = outage && { from: liveFrom + outage.afterMs, to: liveFrom + outage.afterMs + outage.durationMs };
    if (outage && down) {
      o.log(
        `demo: at ${new Date(down.from).toISOString().slice(11, 19)} UTC ${outage.institution} starts failing ${Math.round(outage.share * 100)} % of its calls for ` +
          `${outage.durationMs / MIN} min: watch for its alert firing about 2 min later and resolving about 8 min after it recovers (ALERT lines)`,
      );
    }
    let last = liveFrom;
    let announced = false;
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 1000));
      const t = Date.now();
      const inOutage = Boolean(outage && down && t > down.from && last < down.to);
      if (outage && down && !announced && t > down.to) {
        announced = true;
        o.log(`demo: ${outage.institution} recovered`);
      }
      const conditions: Conditions = inOutage && outage ? { outage: { institution: outage.institution, share: outage.share } } : {};
      await send(traffic.batch(last, t, Math.round((rate * (t - last)) / 1000), conditions));
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
