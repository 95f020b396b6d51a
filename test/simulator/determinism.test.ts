import { describe, expect, it } from 'vitest';
import { generateScenario, planScenario, scenarioNames, type ScenarioName } from '../../simulator/index.js';
import { linkStateSchema, requestLogSchema, webhookAttemptSchema } from '../../schema/records.js';

const now = Date.parse('2026-03-02T15:00:00Z');
const all = (name: ScenarioName, seed: number) => [...generateScenario(planScenario(name, { seed, now, scale: 0.2, days: 2 }))];

describe('simulator determinism and validity', () => {
  it('offers the five scenarios by name', () => {
    expect([...scenarioNames]).toEqual(['normal', 'token-required-burst', 'institution-outage', 'webhook-endpoint-down', 'backfill']);
  });

  it.each(scenarioNames)('%s: the same seed gives the same records, another seed others', (name) => {
    const a = all(name, 7);
    expect(all(name, 7)).toEqual(a);
    const ids = (batches: typeof a) => batches.flatMap((b) => b.logs.map((l) => l.request_id));
    expect(ids(all(name, 8))).not.toEqual(ids(a));
  });

  it.each(scenarioNames)('%s: every record is valid ingest input, inside the planned window', (name) => {
    const plan = planScenario(name, { seed: 3, now, scale: 0.2, days: 2 });
    const batches = [...generateScenario(plan)];
    const logs = batches.flatMap((b) => b.logs);
    expect(logs.length).toBeGreaterThan(100);
    for (const l of logs) {
      expect(requestLogSchema.safeParse(l).success).toBe(true);
      expect(l.timestamp as number).toBeGreaterThanOrEqual(plan.from);
      expect(l.timestamp as number).toBeLessThan(plan.to);
    }
    for (const w of batches.flatMap((b) => b.webhookAttempts)) expect(webhookAttemptSchema.safeParse(w).success).toBe(true);
    for (const s of batches.flatMap((b) => b.links)) expect(linkStateSchema.safeParse(s).success).toBe(true);
  });
});
