import { describe, expect, it } from 'vitest';
import { step, timingOf, type Figures, type InstanceState, type Timing } from '../../alerting/state-machine.js';
import { defaultRule, ruleFromConfig, rules, rulesFromConfig } from '../../alerting/rule.js';
import { loadConfig } from '../../config/env.js';

const figures: Figures = { requests: 100, errors: 30, error_ratio: 0.3, baseline_ratio: 0.01, threshold: 0.05, value: 6 };
const labels = { institution: 'erebor_mx_retail' };
const MIN = 60_000;

/** No hysteresis: resolves at the first evaluation that does not breach (the behaviour before it). */
const noHysteresis = { resolveBelow: 1, resolveAfterMs: 0 };

/** Runs a sequence of breaching/not-breaching evaluations one minute apart. */
function run(pattern: boolean[], timing: Timing = { forMs: MIN, reminderMs: 0, ...noHysteresis }) {
  return runValues(
    pattern.map((b) => (b ? 2 : 0)),
    timing,
  );
}

/** Runs evaluations of these values (value > 1 breaches) one minute apart. */
function runValues(values: number[], timing: Timing) {
  let state: InstanceState | undefined;
  return values.map((value, i) => {
    const r = step(state, { key: labels.institution, labels, breaching: value > 1, figures: { ...figures, value }, at: i * MIN }, timing);
    state = r.next;
    return [r.transition?.state ?? '-', r.notice ?? '-', state?.state ?? 'normal'];
  });
}
const noticesOf = (steps: string[][]) => steps.map((s) => s[1]).filter((n) => n !== '-');

describe('alert state machine (Grafana semantics)', () => {
  it('pending, then firing once the condition held for `for`, one notice, then resolved', () => {
    expect(run([true, true, true, true, false])).toEqual([
      ['pending', '-', 'pending'],
      ['firing', 'firing', 'firing'],
      ['-', '-', 'firing'],
      ['-', '-', 'firing'],
      ['resolved', 'resolved', 'normal'],
    ]);
  });

  it('a blip shorter than `for` never notifies', () => {
    expect(run([true, false, false])).toEqual([
      ['pending', '-', 'pending'],
      ['normal', '-', 'normal'],
      ['-', '-', 'normal'],
    ]);
  });

  it('for = 0 fires at once; a configured reminder repeats while firing', () => {
    expect(run([true, true, true, true, true], { forMs: 0, reminderMs: 2 * MIN, ...noHysteresis })).toEqual([
      ['firing', 'firing', 'firing'],
      ['-', '-', 'firing'],
      ['-', 'reminder', 'firing'],
      ['-', '-', 'firing'],
      ['-', 'reminder', 'firing'],
    ]);
  });
});

describe('hysteresis: resolve below a lower threshold, after a while', () => {
  const timing = timingOf(defaultRule);

  it('the default rule resolves after two minutes below 0.8 of its threshold', () => {
    expect(timing).toEqual({ forMs: MIN, reminderMs: 0, resolveBelow: 0.8, resolveAfterMs: 2 * MIN });
    // fires, dips to 0.9 (under the threshold, above the resolve line), rises, then falls for good
    expect(runValues([2, 2, 0.9, 0.9, 2, 0.5, 0.5, 0.5, 0.5], timing)).toEqual([
      ['pending', '-', 'pending'],
      ['firing', 'firing', 'firing'],
      ['-', '-', 'firing'],
      ['-', '-', 'firing'],
      ['-', '-', 'firing'],
      ['-', '-', 'firing'],
      ['-', '-', 'firing'],
      ['resolved', 'resolved', 'normal'],
      ['-', '-', 'normal'],
    ]);
  });

  it('a dip below the resolve line that ends before the resolve time restarts the clock', () => {
    const steps = runValues([2, 2, 0.5, 0.5, 0.9, 0.5, 0.5, 2, 0.5, 0.5, 0.5], timing);
    expect(noticesOf(steps)).toEqual(['firing', 'resolved']);
    expect(steps.findIndex((s) => s[0] === 'resolved')).toBe(10);
  });

  it('a pending instance still clears at once (hysteresis is for firing alerts)', () => {
    expect(runValues([2, 0.9], timing)).toEqual([
      ['pending', '-', 'pending'],
      ['normal', '-', 'normal'],
    ]);
  });

  it('a value oscillating around the threshold: notices before and after', () => {
    // 4 evaluations at 1.2, 2 at 0.6, repeated 6 times (the window ratio of a 5-minute window over
    // 2 bad minutes in 6), then calm.
    const values = [...Array.from({ length: 6 }, () => [1.2, 1.2, 1.2, 1.2, 0.6, 0.6]).flat(), 0.2, 0.2, 0.2];
    const before = noticesOf(runValues(values, { ...timing, ...noHysteresis }));
    const after = noticesOf(runValues(values, timing));
    expect(before).toEqual(Array.from({ length: 6 }, () => ['firing', 'resolved']).flat());
    expect(after).toEqual(['firing', 'resolved']);
  });
});

describe('rule settings', () => {
  it('unset ALERT_* settings keep the defaults of alerting/rule.ts', () => {
    expect(ruleFromConfig(loadConfig({}))).toEqual(defaultRule);
  });

  it('set ones override them for the built-in evaluator', () => {
    const rule = ruleFromConfig(
      loadConfig({ ALERT_WINDOW_MINUTES: '10', ALERT_MIN_REQUESTS: '200', ALERT_ERROR_CODES: 'institution_timeout, institution_down', ALERT_BASELINE: 'ewma', ALERT_PER_CUSTOMER: 'true', ALERT_FOR_S: '0' }),
    );
    expect(rule).toMatchObject({ windowMinutes: 10, minRequests: 200, errorCodes: ['institution_timeout', 'institution_down'], baseline: { method: 'ewma' }, perCustomer: true, forSeconds: 0 });
    expect(ruleFromConfig(loadConfig({ ALERT_BASELINE_DAYS: '14' })).baseline).toEqual({ method: 'previous_days', days: 14 });
    expect(() => loadConfig({ ALERT_ERROR_RATIO_FLOOR: '0' })).toThrow(/ALERT_ERROR_RATIO_FLOOR/);
    expect(loadConfig({ ALERTS_ENABLED: 'true' }).ALERTS_ENABLED).toBe(true);
    expect(loadConfig({}).ALERTS_ENABLED).toBe(false);
  });

  it('every rule has its own uid and group; interval, for and reminders apply to all, the rest to the error-rate rule', () => {
    expect(new Set(rules.map((r) => r.uid)).size).toBe(rules.length);
    expect(new Set(rules.map((r) => r.group)).size).toBe(rules.length);
    expect(rules.map((r) => r.kind)).toEqual(['error-rate', 'token-required', 'webhook-failures']);
    const configured = rulesFromConfig(loadConfig({ ALERT_EVAL_INTERVAL_S: '2', ALERT_FOR_S: '4', ALERT_WINDOW_MINUTES: '10' }));
    expect(configured.map((r) => [r.evalIntervalSeconds, r.forSeconds, r.windowMinutes])).toEqual([
      [2, 4, 10],
      [2, 4, rules[1]!.windowMinutes],
      [2, 4, rules[2]!.windowMinutes],
    ]);
    expect(rulesFromConfig(loadConfig({}))).toEqual(rules);
  });
});
