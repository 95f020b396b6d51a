/**
 * The life of one alert instance, as Grafana runs it: the condition holds -> pending; it has held
 * for the rule's `for` -> firing (notify once); it stops holding -> back to normal if it never
 * fired, or, once firing, resolved (notify) only after the value has stayed below the lower
 * resolve threshold for the resolve time (hysteresis: Grafana's recovery threshold plus
 * keep_firing_for). Pure, so the evaluator's behaviour is the same at any clock.
 */

/** The figures of one evaluation of one instance. */
export interface Figures {
  requests: number;
  errors: number;
  error_ratio: number;
  baseline_ratio: number;
  threshold: number;
  value: number;
}

export interface InstanceLabels {
  /** '' for a rule whose instances are customers only (webhook deliveries). */
  institution: string;
  customer_id?: string;
}

/** What is kept between evaluations for an instance that is pending or firing. */
export interface InstanceState {
  key: string;
  labels: InstanceLabels;
  state: 'pending' | 'firing';
  /** When the condition started to hold (evaluation time, ms). */
  activeAt: number;
  firingAt?: number;
  lastNotifiedAt?: number;
  /** Firing, and below the resolve threshold since then (evaluation time, ms). */
  belowSince?: number;
  figures: Figures;
  /** Evidence taken when it fired, re-sent with reminders and Alertmanager leases. */
  samples?: string[];
}

export type TransitionState = 'pending' | 'firing' | 'resolved' | 'normal';
export type Notice = 'firing' | 'reminder' | 'resolved';

export interface StepResult {
  /** The state to keep; undefined once the instance is back to normal. */
  next?: InstanceState;
  /** A change to record in the alerts table. */
  transition?: { state: TransitionState; previous: '' | 'pending' | 'firing' };
  notice?: Notice;
}

export interface Timing {
  forMs: number;
  /** 0: no reminders. */
  reminderMs: number;
  /** A firing instance resolves once value < resolveBelow has held resolveAfterMs (1 and 0: at the first non-breaching evaluation). */
  resolveBelow: number;
  resolveAfterMs: number;
}

/** The state machine's timing from a rule's definition. */
export const timingOf = (rule: { forSeconds: number; reminderMinutes: number; resolve: { below: number; afterSeconds: number } }): Timing => ({
  forMs: rule.forSeconds * 1000,
  reminderMs: rule.reminderMinutes * 60_000,
  resolveBelow: rule.resolve.below,
  resolveAfterMs: rule.resolve.afterSeconds * 1000,
});

export function step(
  prev: InstanceState | undefined,
  input: { key: string; labels: InstanceLabels; breaching: boolean; figures: Figures; at: number },
  timing: Timing,
): StepResult {
  const { key, labels, breaching, figures, at } = input;
  if (!prev) {
    if (!breaching) return {};
    if (timing.forMs === 0) {
      return {
        next: { key, labels, state: 'firing', activeAt: at, firingAt: at, lastNotifiedAt: at, figures },
        transition: { state: 'firing', previous: '' },
        notice: 'firing',
      };
    }
    return { next: { key, labels, state: 'pending', activeAt: at, figures }, transition: { state: 'pending', previous: '' } };
  }
  if (!breaching) {
    if (prev.state === 'pending') return { transition: { state: 'normal', previous: 'pending' } };
    // Firing: between the resolve threshold and 1 it keeps firing and the resolve clock restarts.
    if (figures.value >= timing.resolveBelow) return { next: { ...prev, belowSince: undefined, figures } };
    const belowSince = prev.belowSince ?? at;
    if (at - belowSince >= timing.resolveAfterMs) return { transition: { state: 'resolved', previous: 'firing' }, notice: 'resolved' };
    return { next: { ...prev, belowSince, figures } };
  }
  if (prev.state === 'pending') {
    if (at - prev.activeAt >= timing.forMs) {
      return {
        next: { ...prev, state: 'firing', firingAt: at, lastNotifiedAt: at, figures },
        transition: { state: 'firing', previous: 'pending' },
        notice: 'firing',
      };
    }
    return { next: { ...prev, figures } };
  }
  // Firing and still (or again) breaching: silent, unless a reminder is due.
  if (timing.reminderMs > 0 && at - (prev.lastNotifiedAt ?? prev.firingAt ?? prev.activeAt) >= timing.reminderMs) {
    return { next: { ...prev, belowSince: undefined, lastNotifiedAt: at, figures }, notice: 'reminder' };
  }
  return { next: { ...prev, belowSince: undefined, figures } };
}
