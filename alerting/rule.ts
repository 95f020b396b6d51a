import type { Config } from '../config/env.js';

/**
 * The error-rate spike rule, defined once. The built-in evaluator (alerting/evaluator.ts) and the
 * Grafana rule (dashboards/alerting.ts) both render their SQL from this definition, so changing a
 * default here changes both (run `npm run dashboards` afterwards). The ALERT_* settings override
 * these defaults for the built-in evaluator only.
 *
 * An instance (one institution, or one institution and customer) fires when, over the last
 * `windowMinutes` complete minutes:
 *   requests >= minRequests                                   (volume guard)
 *   error_ratio > errorRatioFloor                             (absolute floor)
 *   error_ratio > its baseline-derived threshold              ("well above its own baseline")
 * where the baseline-derived threshold is
 *   min(baseline × baselineFactor, baseline + (1 − baseline) × highBaselineRise)
 * The second term keeps an institution with a high usual error ratio alertable: at a 40 % baseline,
 * 3× would need 120 %, so instead it fires when half of its usual successes start failing (70 %).
 */
export type Baseline =
  /**
   * Median of the same window's error ratio on each of the previous `days` days (days with fewer
   * than minRequests requests in that window are skipped). The default: see README in alerting/.
   */
  | { method: 'previous_days'; days: number }
  /** Exponentially weighted error ratio of the `hours` before the window, half-life `halfLifeMinutes`. */
  | { method: 'ewma'; hours: number; halfLifeMinutes: number };

export interface ErrorRateRule {
  uid: string;
  title: string;
  /** Minutes of complete rollup minutes the ratio is computed over. */
  windowMinutes: number;
  /** Responses that count as errors: status_code >= errorStatusMin, plus these error codes. */
  errorStatusMin: number;
  errorCodes: string[];
  /** Volume guard: fewer requests than this in the window never fire. */
  minRequests: number;
  /** Absolute floor the error ratio must exceed (0.05 = 5 %). */
  errorRatioFloor: number;
  baseline: Baseline;
  /** "Well above": this many times the baseline... */
  baselineFactor: number;
  /** ...or, when that is out of reach, this share of the baseline's successes failing. */
  highBaselineRise: number;
  /** One instance per institution, or per institution and customer. */
  perCustomer: boolean;
  /** The condition must hold this long (pending) before the alert fires; 0 fires at once. */
  forSeconds: number;
  /** How often the rule is evaluated. */
  evalIntervalSeconds: number;
  /** Re-notify a still-firing alert this often; 0 = never (one notice when it fires, one when it ends). */
  reminderMinutes: number;
  /** Failing request_ids a notification carries as evidence. */
  sampleSize: number;
  severity: string;
}

export const defaultRule: ErrorRateRule = {
  uid: 'error-rate-spike-per-institution',
  title: 'Error-rate spike per institution',
  windowMinutes: 5,
  errorStatusMin: 500,
  errorCodes: [],
  minRequests: 50,
  errorRatioFloor: 0.05,
  baseline: { method: 'previous_days', days: 7 },
  baselineFactor: 3,
  highBaselineRise: 0.5,
  perCustomer: false,
  // One interval: two consecutive evaluations must agree, and a spike still pages within two.
  forSeconds: 60,
  evalIntervalSeconds: 60,
  reminderMinutes: 0,
  sampleSize: 5,
  severity: 'warning',
};

type AlertSettings = Pick<
  Config,
  | 'ALERT_EVAL_INTERVAL_S'
  | 'ALERT_WINDOW_MINUTES'
  | 'ALERT_FOR_S'
  | 'ALERT_MIN_REQUESTS'
  | 'ALERT_ERROR_RATIO_FLOOR'
  | 'ALERT_ERROR_CODES'
  | 'ALERT_BASELINE'
  | 'ALERT_BASELINE_DAYS'
  | 'ALERT_BASELINE_FACTOR'
  | 'ALERT_PER_CUSTOMER'
  | 'ALERT_REMINDER_MINUTES'
>;

/** The rule the built-in evaluator runs: the defaults above with the ALERT_* settings that are set. */
export function ruleFromConfig(config: AlertSettings, base: ErrorRateRule = defaultRule): ErrorRateRule {
  const baseline: Baseline =
    config.ALERT_BASELINE === 'ewma'
      ? { method: 'ewma', hours: 3, halfLifeMinutes: 60 }
      : config.ALERT_BASELINE === 'previous_days' || config.ALERT_BASELINE_DAYS !== undefined
        ? { method: 'previous_days', days: config.ALERT_BASELINE_DAYS ?? (base.baseline.method === 'previous_days' ? base.baseline.days : 7) }
        : base.baseline;
  return {
    ...base,
    windowMinutes: config.ALERT_WINDOW_MINUTES ?? base.windowMinutes,
    forSeconds: config.ALERT_FOR_S ?? base.forSeconds,
    evalIntervalSeconds: config.ALERT_EVAL_INTERVAL_S ?? base.evalIntervalSeconds,
    minRequests: config.ALERT_MIN_REQUESTS ?? base.minRequests,
    errorRatioFloor: config.ALERT_ERROR_RATIO_FLOOR ?? base.errorRatioFloor,
    errorCodes: config.ALERT_ERROR_CODES ?? base.errorCodes,
    baseline,
    baselineFactor: config.ALERT_BASELINE_FACTOR ?? base.baselineFactor,
    perCustomer: config.ALERT_PER_CUSTOMER ?? base.perCustomer,
    reminderMinutes: config.ALERT_REMINDER_MINUTES ?? base.reminderMinutes,
  };
}

/** The columns that identify an alert instance. */
export const instanceColumns = (rule: Pick<ErrorRateRule, 'perCustomer'>) =>
  rule.perCustomer ? (['institution', 'customer_id'] as const) : (['institution'] as const);
