import { DemoTraffic, type TrafficBatch } from './traffic.js';

/** Posts demo traffic to a running ingest API: the last 24 h as history, then a live stream. */
export function runDemo(o: { url: string; apiKey: string; log: (l: string) => void; requestsPerSecond?: number; seed?: number }) {
  const rate = o.requestsPerSecond ?? 40;
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
    // history: 24 one-hour slices of the last day
    for (let h = 24; h > 0 && !stopped; h--) {
      await send(traffic.batch(now - h * 3_600_000, now - (h - 1) * 3_600_000, 1500));
    }
    o.log(`demo: posted 24 h of history (${posted} records); now streaming about ${rate} requests/s`);
    let last = Date.now();
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 1000));
      const t = Date.now();
      await send(traffic.batch(last, t, Math.round((rate * (t - last)) / 1000)));
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
