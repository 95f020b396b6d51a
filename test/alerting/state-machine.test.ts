import { describe, expect, it } from 'vitest';
import { step, type Figures, type InstanceState } from '../../alerting/state-machine.js';
import { defaultRule, ruleFromConfig } from '../../alerting/rule.js';
import { loadConfig } from '../../config/env.js';

const figures: Figures = { requests: 100, errors: 30, error_ratio: 0.3, baseline_ratio: 0.01, threshold: 0.05, value: 6 };
const labels = { institution: 'erebor_mx_retail' };
const MIN = 60_000;

/** Runs a sequence of breaching/not-breaching evaluations one minute apart. */
function run(pattern: boolean[], timing = { forMs: MIN, reminderMs: 0 }) {
  let state: InstanceState | undefined;
  return pattern.map((breaching, i) => {
    const r = step(state, { key: labels.institution, labels, breaching, figures, at: i * MIN }, timing);
    state = r.next;
    return [r.transition?.state ?? '-', r.notice ?? '-', state?.state ?? 'normal'];
  });
}

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
    expect(run([true, true, true, true, true], { forMs: 0, reminderMs: 2 * MIN })).toEqual([
      ['firing', 'firing', 'firing'],
      ['-', '-', 'firing'],
      ['-', 'reminder', 'firing'],
      ['-', '-', 'firing'],
      ['-', 'reminder', 'firing'],
    ]);
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
});
