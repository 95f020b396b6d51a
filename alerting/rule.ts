import type { Config } from '../config/env.js';

/**
 * Alert rules are data: `rules` below is the list the built-in evaluator runs (one schedule each)
 * and the Grafana provisioning renders (one rule group each). Both render their SQL from these
 * definitions (alerting/rule-sql.ts), so changing a rule here changes both (run `npm run
 * dashboards` afterwards). Adding a rule: a definition here, its SQL shape in rule-sql.ts if it
 * is a new `kind`, and a test that drives it through the real engine (test/alerting/).
 *
 * Every rule's SQL returns, per instance, the figures of the alerts table (requests, errors,
 * error_ratio, baseline_ratio, threshold) and `value` = the ratio ÷ the threshold it must exceed
 * (0 under the volume guard): value > 1 fires, in Grafana and here.
 */

/** What every rule has: identity, timing and hysteresis. */
export interface RuleCommon {
  uid: string;
  title: string;
  /** The Grafana rule group it is provisioned in (one group per rule). */
  group: string;
  /** `alertname` label in Alertmanager. */
  alertname: string;
  /** The condition must hold this long (pending) before the alert fires; 0 fires at once. */
  forSeconds: number;
  /** How often the rule is evaluated. */
  evalIntervalSeconds: number;
  /**
   * Hysteresis: a firing alert resolves only once `value` has stayed below `below` (a lower
   * resolve threshold, < 1) for `afterSeconds`. A value between `below` and 1 keeps it firing, so
   * a ratio hovering at the threshold sends one notice, not firing/resolved every interval.
   */
  resolve: { below: number; afterSeconds: number };
  /** Re-notify a still-firing alert this often; 0 = never (one notice when it fires, one when it ends). */
  reminderMinutes: number;
  /** Evidence ids a notification carries (request_ids; webhook_ids for webhook rules). */
  sampleSize: number;
  severity: string;
}

export type Baseline =
  /**
   * Median of the same window's ratio on each of the previous `days` days (days with fewer
   * than minRequests requests in that window are skipped). The default: see README in alerting/.
   */
  | { method: 'previous_days'; days: number }
  /** Exponentially weighted ratio of the `hours` before the window, half-life `halfLifeMinutes`. */
  | { method: 'ewma'; hours: number; halfLifeMinutes: number };

/**
 * A share of an institution's responses, compared with its own usual share. An instance (one
 * institution, or one institution and customer) fires when, over the last `windowMinutes`
 * complete minutes:
 *   requests >= minRequests                                   (volume guard)
 *   ratio > errorRatioFloor                                   (absolute floor)
 *   ratio > its baseline-derived threshold                    ("well above its own baseline")
 * where the baseline-derived threshold is
 *   min(baseline × baselineFactor, baseline + (1 − baseline) × highBaselineRise)
 * The second term keeps an institution with a high usual ratio alertable: at a 40 % baseline,
 * 3× would need 120 %, so instead it fires when half of its usual successes start failing (70 %).
 */
interface ResponseShareFields {
  /** Minutes of complete rollup minutes the ratio is computed over. */
  windowMinutes: number;
  /** Volume guard: fewer requests than this in the window never fire. */
  minRequests: number;
  /** Absolute floor the ratio must exceed (0.05 = 5 %). */
  errorRatioFloor: number;
  baseline: Baseline;
  /** "Well above": this many times the baseline... */
  baselineFactor: number;
  /** ...or, when that is out of reach, this share of the baseline's other responses turning. */
  highBaselineRise: number;
  /** One instance per institution, or per institution and customer. */
  perCustomer: boolean;
}

/** Error-rate spike: the share of errors (5xx, plus listed error codes). */
export interface ErrorRateRule extends RuleCommon, ResponseShareFields {
  kind: 'error-rate';
  /** Responses that count as errors: status_code >= errorStatusMin, plus these error codes. */
  errorStatusMin: number;
  errorCodes: string[];
}

/** token_required surge: the share of 428 `token_required` answers (an institution started demanding MFA). */
export interface TokenRequiredRule extends RuleCommon, ResponseShareFields {
  kind: 'token-required';
}

/**
 * Webhook deliveries failing per customer endpoint: the share of delivery attempts that got no
 * 2xx (error status, timeout, refused). No baseline: a healthy endpoint answers 2xx, so a fixed
 * share is the right line. One instance per customer (a customer's endpoint).
 */
export interface WebhookFailureRule extends RuleCommon {
  kind: 'webhook-failures';
  windowMinutes: number;
  /** Volume guard: fewer attempts than this in the window never fire. */
  minAttempts: number;
  /** Fires above this share of failed attempts (0.5 = half of them). */
  failureRatio: number;
}

export type Rule = ErrorRateRule | TokenRequiredRule | WebhookFailureRule;
export type ResponseShareRule = ErrorRateRule | TokenRequiredRule;

/** Shared timing: one evaluation a minute, two consecutive breaches fire, two minutes below 0.8 resolve. */
const timing = {
  // One interval: two consecutive evaluations must agree, and a spike still pages within two.
  forSeconds: 60,
  evalIntervalSeconds: 60,
  // Below 80 % of the threshold for two minutes (three evaluations in a row): a ratio that dips
  // under the line for an evaluation or two does not resolve, and cannot fire again a minute later.
  resolve: { below: 0.8, afterSeconds: 120 },
  reminderMinutes: 0,
  sampleSize: 5,
  severity: 'warning',
} as const;

/** Both response-share rules compare an institution with its own usual share, with the shared timing. */
const againstOwnBaseline = () => ({
  baseline: { method: 'previous_days', days: 7 } as Baseline,
  baselineFactor: 3,
  highBaselineRise: 0.5,
  perCustomer: false,
  ...timing,
  resolve: { ...timing.resolve },
});

export const defaultRule: ErrorRateRule = {
  kind: 'error-rate',
  uid: 'error-rate-spike-per-institution',
  title: 'Error-rate spike per institution',
  group: 'error-rate',
  alertname: 'ErrorRateSpike',
  windowMinutes: 5,
  errorStatusMin: 500,
  errorCodes: [],
  minRequests: 50,
  errorRatioFloor: 0.05,
  ...againstOwnBaseline(),
};

export const tokenRequiredRule: TokenRequiredRule = {
  kind: 'token-required',
  uid: 'token-required-surge-per-institution',
  title: 'token_required surge per institution',
  group: 'token-required',
  alertname: 'TokenRequiredSurge',
  // MFA demands build up over logins, not seconds: a longer window keeps small institutions above the guard.
  windowMinutes: 10,
  minRequests: 30,
  // Links already waiting for a token answer 428 to most calls, so a normal 10-minute window can
  // reach 25 % at a small institution (the simulator's normal scenario does); a burst, where the
  // institution asks every login for a token, goes past 80 %. 40 % sits between with room for noise.
  errorRatioFloor: 0.4,
  ...againstOwnBaseline(),
};

export const webhookFailureRule: WebhookFailureRule = {
  kind: 'webhook-failures',
  uid: 'webhook-deliveries-failing-per-customer',
  title: 'Webhook deliveries failing per customer endpoint',
  group: 'webhook-deliveries',
  alertname: 'WebhookDeliveriesFailing',
  // Retries come minutes apart (+1, +4, +9 min): ten minutes see several of them.
  windowMinutes: 10,
  // A customer's endpoint that usually fails 1 attempt in 8 can show 5 of 12 in a quiet window (the
  // simulator's normal scenario does); 20 attempts keep that noise under the line.
  minAttempts: 20,
  failureRatio: 0.5,
  ...timing,
  resolve: { ...timing.resolve },
};

/** Every rule, in the order they are provisioned and scheduled. */
export const rules: readonly Rule[] = [defaultRule, tokenRequiredRule, webhookFailureRule];

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

/** The error-rate rule the built-in evaluator runs: the defaults above with the ALERT_* settings that are set. */
export function ruleFromConfig(config: AlertSettings, base: ErrorRateRule = defaultRule): ErrorRateRule {
  const baseline: Baseline =
    config.ALERT_BASELINE === 'ewma'
      ? { method: 'ewma', hours: 3, halfLifeMinutes: 60 }
      : config.ALERT_BASELINE === 'previous_days' || config.ALERT_BASELINE_DAYS !== undefined
        ? { method: 'previous_days', days: config.ALERT_BASELINE_DAYS ?? (base.baseline.method === 'previous_days' ? base.baseline.days : 7) }
        : base.baseline;
  return {
    ...withTimingFromConfig(config, base),
    windowMinutes: config.ALERT_WINDOW_MINUTES ?? base.windowMinutes,
    minRequests: config.ALERT_MIN_REQUESTS ?? base.minRequests,
    errorRatioFloor: config.ALERT_ERROR_RATIO_FLOOR ?? base.errorRatioFloor,
    errorCodes: config.ALERT_ERROR_CODES ?? base.errorCodes,
    baseline,
    baselineFactor: config.ALERT_BASELINE_FACTOR ?? base.baselineFactor,
    perCustomer: config.ALERT_PER_CUSTOMER ?? base.perCustomer,
  };
}

/** Interval, `for` and reminders are settings of the evaluator, so they apply to every rule. */
function withTimingFromConfig<R extends Rule>(config: AlertSettings, base: R): R {
  return {
    ...base,
    forSeconds: config.ALERT_FOR_S ?? base.forSeconds,
    evalIntervalSeconds: config.ALERT_EVAL_INTERVAL_S ?? base.evalIntervalSeconds,
    reminderMinutes: config.ALERT_REMINDER_MINUTES ?? base.reminderMinutes,
  };
}

/** Every rule as the built-in evaluator runs it: the ALERT_* settings applied. */
export function rulesFromConfig(config: AlertSettings, all: readonly Rule[] = rules): Rule[] {
  return all.map((r) => (r.kind === 'error-rate' && r.uid === defaultRule.uid ? ruleFromConfig(config, r) : withTimingFromConfig(config, r)));
}

/** The columns that identify an alert instance. */
export function instanceColumns(rule: Rule): readonly ('institution' | 'customer_id')[] {
  if (rule.kind === 'webhook-failures') return ['customer_id'];
  return rule.perCustomer ? ['institution', 'customer_id'] : ['institution'];
}
