import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../helpers/pipeline.js';
import type { AlertNotification } from '../../alerting/notification.js';
import { startReceiver } from './receiver.js';
import { MIN, minuteTraffic } from './traffic.js';

/**
 * The "done when" of the issue on the real clock: ALERTS_ENABLED (plus a webhook URL) in the
 * worker's settings, and a spike reaches the webhook within two evaluation intervals. The
 * interval and `for` are shrunk to 2 s so the test does not wait minutes; the code path is the
 * production one (job scheduler -> evaluation worker -> delivery queue -> HTTP).
 */
const intervalS = 2;
let p: TestPipeline;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
  p = await startTestPipeline({
    ALERTS_ENABLED: 'true',
    ALERT_WEBHOOK_URL: receiver.url,
    ALERT_EVAL_INTERVAL_S: String(intervalS),
    ALERT_FOR_S: String(intervalS),
  });
});

afterAll(async () => {
  await p?.close();
  await receiver?.close();
});

describe('the evaluator enabled by configuration', () => {
  it('a spike reaches the webhook within two evaluation intervals, and nothing else does', async () => {
    // The last three complete minutes: the window the next evaluations look at.
    const end = Math.floor(Date.now() / MIN) * MIN;
    const spike = minuteTraffic({ institution: 'iron_bank_br_business', fromMs: end - 3 * MIN, toMs: end, perMinute: 30, failing: () => 15 });
    const calm = minuteTraffic({ institution: 'erebor_mx_retail', fromMs: end - 3 * MIN, toMs: end, perMinute: 30, failing: () => 0 });
    expect((await p.post('logs', [...spike, ...calm])).status).toBe(202);
    await p.waitForIdle();
    const landed = Date.now();

    const [received] = await receiver.waitFor(1, 4 * intervalS * 1000);
    expect(received!.at - landed).toBeLessThanOrEqual(2 * intervalS * 1000 + 1500);
    const n = received!.body as AlertNotification;
    expect(n).toMatchObject({ status: 'firing', institution: 'iron_bank_br_business', requests: 90, errors: 45, error_ratio: 0.5 });
    const failing = new Set(spike.filter((l) => l.status_code >= 500).map((l) => l.request_id));
    expect(n.sample_request_ids.length).toBe(5);
    for (const id of n.sample_request_ids) expect(failing.has(id)).toBe(true);

    // A few more ticks: still one notice (no repeats), and the transitions are stored.
    await new Promise((r) => setTimeout(r, 2 * intervalS * 1000));
    expect(receiver.delivered).toHaveLength(1);
    const states = await p.rows<{ state: string }>(`SELECT state FROM ${p.database}.alerts FINAL WHERE institution = 'iron_bank_br_business' ORDER BY at`);
    expect(states.map((s) => s.state)).toEqual(['pending', 'firing']);
  });
});
