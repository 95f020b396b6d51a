import { TrafficGenerator, type Conditions, type TrafficBatch } from './traffic.js';

/**
 * Named scenarios: a stretch of history cut into slices, each with its request volume and what
 * goes wrong during it. Deterministic for (seed, now).
 */
export const scenarioNames = ['normal', 'token-required-burst', 'institution-outage', 'webhook-endpoint-down', 'backfill'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface ScenarioOptions {
  seed?: number;
  /** End of the simulated history (default: now). */
  now?: number;
  /** Multiplies request volumes (default 1). */
  scale?: number;
  /** backfill only: days of history (default 7). */
  days?: number;
  links?: number;
  customerPrefix?: string;
}

/** When and where the incident of a scenario happens, so its effect can be looked up. */
export interface Incident {
  from: number;
  to: number;
  institution?: string;
  customer_id?: string;
  conditions: Conditions;
}

export interface Slice {
  from: number;
  to: number;
  requests: number;
  conditions: Conditions;
}

export interface ScenarioPlan {
  name: ScenarioName;
  description: string;
  seed: number;
  from: number;
  to: number;
  incident?: Incident;
  slices: Slice[];
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Incidents hit a fixed institution / customer, so a scenario is easy to find in the dashboards. */
export const incidentTargets = { outage: 'banco_azul_co', tokenBurst: 'erebor_mx_retail', webhookDown: 'paywise' } as const;

/** Two hours in ten-minute slices, with an incident over [incidentFrom, incidentTo) minutes into it. */
function twoHours(now: number, perSlice: number, incident?: { fromMin: number; toMin: number; conditions: Conditions }): Slice[] {
  const from = now - 2 * HOUR;
  return Array.from({ length: 12 }, (_, i) => {
    const start = from + i * 10 * MIN;
    const inIncident = incident && i * 10 >= incident.fromMin && i * 10 < incident.toMin;
    return { from: start, to: start + 10 * MIN, requests: perSlice, conditions: inIncident ? incident.conditions : {} };
  });
}

/** Calls per hour follow the working day (a quiet night, a busy afternoon). */
const hourWeight = (ms: number) => {
  const h = new Date(ms).getUTCHours();
  return 0.25 + Math.max(0, Math.sin(((h - 6) / 24) * 2 * Math.PI)) * 1.5;
};

export function planScenario(name: ScenarioName, o: ScenarioOptions = {}): ScenarioPlan {
  const seed = o.seed ?? 42;
  const now = o.now ?? Date.now();
  const scale = o.scale ?? 1;
  const per = (n: number) => Math.max(1, Math.round(n * scale));
  const incidentAt = (fromMin: number, toMin: number, conditions: Conditions, target: { institution?: string; customer_id?: string }) => ({
    plan: { fromMin, toMin, conditions },
    incident: { from: now - 2 * HOUR + fromMin * MIN, to: now - 2 * HOUR + toMin * MIN, conditions, ...target },
  });
  const base = { name, seed, from: now - 2 * HOUR, to: now };
  const customer = (o.customerPrefix ?? '') + incidentTargets.webhookDown;

  switch (name) {
    case 'normal':
      return { ...base, description: 'A healthy day: the usual endpoint mix, a few errors, webhooks mostly delivered.', slices: twoHours(now, per(250)) };
    case 'token-required-burst': {
      const i = incidentAt(90, 120, { tokenBurst: { institution: incidentTargets.tokenBurst, share: 0.6 } }, { institution: incidentTargets.tokenBurst });
      return { ...base, description: `${incidentTargets.tokenBurst} starts asking for MFA tokens: 428s, links go token_required, LINKS token_required webhooks.`, incident: i.incident, slices: twoHours(now, per(250), i.plan) };
    }
    case 'institution-outage': {
      const i = incidentAt(60, 90, { outage: { institution: incidentTargets.outage, share: 0.8 } }, { institution: incidentTargets.outage });
      return { ...base, description: `${incidentTargets.outage} answers 5xx to most calls for 30 minutes, then recovers.`, incident: i.incident, slices: twoHours(now, per(250), i.plan) };
    }
    case 'webhook-endpoint-down': {
      const i = incidentAt(60, 120, { webhookDown: { customer_id: customer } }, { customer_id: customer });
      return { ...base, description: `${customer}'s webhook endpoint stops answering: every attempt fails until the retries run out.`, incident: i.incident, slices: twoHours(now, per(250), i.plan) };
    }
    case 'backfill': {
      const days = o.days ?? 7;
      const start = Math.floor((now - days * DAY) / HOUR) * HOUR;
      const slices: Slice[] = [];
      for (let t = start; t < now; t += HOUR) slices.push({ from: t, to: Math.min(t + HOUR, now), requests: per(60 * hourWeight(t)), conditions: {} });
      return { name, seed, from: start, to: now, description: `${days} days of history, posted as fast as ingest takes it.`, slices };
    }
  }
}

/** The traffic of a plan, slice by slice (links' initial states first). */
export function* generateScenario(plan: ScenarioPlan, o: ScenarioOptions = {}): Generator<TrafficBatch> {
  const traffic = new TrafficGenerator({ seed: plan.seed, now: plan.to, links: o.links, customerPrefix: o.customerPrefix });
  yield { logs: [], webhookAttempts: [], links: traffic.linkStates(plan.from) };
  for (const s of plan.slices) yield traffic.batch(s.from, s.to, s.requests, s.conditions);
}
