import { hourKeyBound } from '../clickhouse/tables.js';
import { instanceColumns, type ErrorRateRule, type ResponseShareRule, type Rule, type WebhookFailureRule } from './rule.js';

/**
 * Each rule's SQL, rendered from its definition. It reads only a per-minute rollup:
 * request_status_1m (minute × institution × customer × status, error code and origin) for the
 * response-share rules, webhook_stats_1m (minute × customer × event × outcome) for the webhook
 * rule. Each has every column its rule needs, so one evaluation costs the same however large the
 * raw tables grow.
 *
 * The evaluation time is the plugin macro `$__toTime` (Grafana expands it to
 * `toDateTime(<unix seconds>)`); the built-in evaluator puts the same expression in its place.
 * The window is the last `windowMinutes` *complete* minutes before that time: the current minute
 * is still being written.
 */

const EVAL_TIME = '$__toTime';

/** A ClickHouse string literal (backslash and quote escaped). */
export const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Which responses count as errors. The evidence query uses the same expression. */
export function isErrorSql(rule: Pick<ErrorRateRule, 'errorStatusMin' | 'errorCodes'>): string {
  const byStatus = `status_code >= ${Math.trunc(rule.errorStatusMin)}`;
  return rule.errorCodes.length ? `(${byStatus} OR error_code IN (${rule.errorCodes.map(literal).join(', ')}))` : `(${byStatus})`;
}

/** The responses a response-share rule counts: errors, or the 428 token_required answers. */
export function countedSql(rule: ResponseShareRule): string {
  return rule.kind === 'error-rate' ? isErrorSql(rule) : `(status_code = 428 AND error_code = 'token_required')`;
}

const num = (n: number) => {
  if (!Number.isFinite(n)) throw new Error(`rule parameter ${n} is not a finite number`);
  return String(n);
};

/** requests, errors, error_ratio, baseline_ratio per instance: same window on previous days, median. */
function previousDaysCore(rule: ResponseShareRule, days: number, table: string): string {
  const keys = instanceColumns(rule).join(', ');
  const windowS = rule.windowMinutes * 60;
  return `
    SELECT
      ${keys},
      sumIf(day_requests, day_back = 0) AS requests,
      sumIf(day_errors, day_back = 0) AS errors,
      if(requests = 0, 0, errors / requests) AS error_ratio,
      -- days whose window had too little traffic say nothing about the usual ratio
      countIf(day_back > 0 AND day_requests >= ${num(rule.minRequests)}) AS baseline_days,
      if(baseline_days = 0, 0, medianExactIf(day_errors / day_requests, day_back > 0 AND day_requests >= ${num(rule.minRequests)})) AS baseline_ratio
    FROM
    (
      WITH toStartOfMinute(${EVAL_TIME}) AS window_end
      SELECT
        ${keys},
        -- 0: the window itself; d: the same window d days earlier
        intDiv(toInt64(window_end) - toInt64(minute) - 1, 86400) AS day_back,
        sum(requests) AS day_requests,
        sumIf(requests, ${countedSql(rule)}) AS day_errors
      FROM ${table}
      WHERE minute >= window_end - INTERVAL ${num(days * 1440 + rule.windowMinutes)} MINUTE
        AND minute < window_end
        AND (toInt64(window_end) - toInt64(minute) - 1) % 86400 < ${num(windowS)}
        AND institution != ''
      GROUP BY ${keys}, day_back
    )
    GROUP BY ${keys}`;
}

/** The alternative baseline: exponentially weighted ratio of the hours before the window. */
function ewmaCore(rule: ResponseShareRule, hours: number, halfLifeMinutes: number, table: string): string {
  const keys = instanceColumns(rule).join(', ');
  return `
    SELECT
      ${keys},
      sumIf(minute_requests, in_window) AS requests,
      sumIf(minute_errors, in_window) AS errors,
      if(requests = 0, 0, errors / requests) AS error_ratio,
      sumIf(minute_requests * weight, NOT in_window) AS baseline_weight,
      if(baseline_weight < ${num(rule.minRequests)}, 0, sumIf(minute_errors * weight, NOT in_window) / baseline_weight) AS baseline_ratio
    FROM
    (
      WITH
        toStartOfMinute(${EVAL_TIME}) AS window_end,
        window_end - INTERVAL ${num(rule.windowMinutes)} MINUTE AS window_start
      SELECT
        ${keys},
        minute >= window_start AS in_window,
        exp2(-(toInt64(window_start) - toInt64(minute)) / ${num(halfLifeMinutes * 60)}) AS weight,
        sum(requests) AS minute_requests,
        sumIf(requests, ${countedSql(rule)}) AS minute_errors
      FROM ${table}
      WHERE minute >= window_start - INTERVAL ${num(hours * 60)} MINUTE
        AND minute < window_end
        AND institution != ''
      GROUP BY ${keys}, minute
    )
    GROUP BY ${keys}`;
}

/**
 * Every figure per instance, plus `value`: the ratio divided by the threshold it must exceed
 * (0 under the volume guard). value > 1 is the alert condition, in Grafana and here. `table`
 * replaces the rule's rollup (tests compare rollups; the evaluator qualifies it with the database).
 */
export function ruleFiguresSql(rule: Rule, table = sourceTable(rule)): string {
  return rule.kind === 'webhook-failures' ? webhookFiguresSql(rule, table) : responseShareFiguresSql(rule, table);
}

/** The rollup a rule reads. */
export const sourceTable = (rule: Rule) => (rule.kind === 'webhook-failures' ? 'webhook_stats_1m' : 'request_status_1m');

function responseShareFiguresSql(rule: ResponseShareRule, table: string): string {
  const keys = instanceColumns(rule).join(', ');
  const core =
    rule.baseline.method === 'ewma'
      ? ewmaCore(rule, rule.baseline.hours, rule.baseline.halfLifeMinutes, table)
      : previousDaysCore(rule, rule.baseline.days, table);
  return `SELECT
  ${keys},
  requests,
  errors,
  error_ratio,
  baseline_ratio,
  -- above the floor, and well above the baseline: factor x, or a share of its usual other answers turning
  greatest(${num(rule.errorRatioFloor)}, least(baseline_ratio * ${num(rule.baselineFactor)}, baseline_ratio + (1 - baseline_ratio) * ${num(rule.highBaselineRise)})) AS threshold,
  if(requests >= ${num(rule.minRequests)}, error_ratio / threshold, 0) AS value
FROM
(${core}
)
ORDER BY ${keys}`;
}

/**
 * Delivery attempts per customer in the window, and the share that got no 2xx (an error status,
 * a timeout, a refused connection): `requests` = attempts, `errors` = failed attempts.
 */
function webhookFiguresSql(rule: WebhookFailureRule, table: string): string {
  return `SELECT
  customer_id,
  requests,
  errors,
  error_ratio,
  0 AS baseline_ratio,
  ${num(rule.failureRatio)} AS threshold,
  if(requests >= ${num(rule.minAttempts)}, error_ratio / threshold, 0) AS value
FROM
(
  WITH toStartOfMinute(${EVAL_TIME}) AS window_end
  SELECT
    customer_id,
    sum(attempts) AS requests,
    sumIf(attempts, outcome != 'delivered') AS errors,
    if(requests = 0, 0, errors / requests) AS error_ratio
  FROM ${table}
  WHERE minute >= window_end - INTERVAL ${num(rule.windowMinutes)} MINUTE
    AND minute < window_end
    AND customer_id != ''
  GROUP BY customer_id
)
ORDER BY customer_id`;
}

/** Grafana's alert query: the instance labels (string columns) and the one number, `value`. */
export function grafanaRuleSql(rule: Rule): string {
  const keys = instanceColumns(rule).join(', ');
  return `SELECT ${keys}, value\nFROM\n(\n${ruleFiguresSql(rule)}\n)`;
}

/** The built-in evaluator's query: the same SQL with the evaluation time as a query parameter. */
export function evaluatorSql(rule: Rule, database: string): string {
  return ruleFiguresSql(rule, `${database}.${sourceTable(rule)}`).replaceAll(EVAL_TIME, 'toDateTime({eval_time:UInt32})');
}

/**
 * Evidence: the latest matching records of one instance in the window, by the rule's own filter
 * (failing or token_required request_ids; webhook_ids of failed delivery attempts).
 */
export function sampleRequestIdsSql(rule: Rule, database: string): string {
  if (rule.kind === 'webhook-failures') {
    return `SELECT webhook_id AS request_id
FROM ${database}.webhook_attempts
WHERE timestamp >= fromUnixTimestamp64Milli({window_start_ms:Int64})
  AND timestamp < fromUnixTimestamp64Milli({window_end_ms:Int64})
  AND ${hourKeyBound('timestamp', 'fromUnixTimestamp64Milli({window_start_ms:Int64})', 'fromUnixTimestamp64Milli({window_end_ms:Int64})')}
  AND customer_id = {customer_id:String}
  AND NOT ifNull(status_code BETWEEN 200 AND 299, 0)
GROUP BY webhook_id
ORDER BY max(timestamp) DESC, webhook_id
LIMIT ${Math.trunc(rule.sampleSize)}`;
  }
  return `SELECT request_id
FROM ${database}.request_logs
WHERE timestamp >= fromUnixTimestamp64Milli({window_start_ms:Int64})
  AND timestamp < fromUnixTimestamp64Milli({window_end_ms:Int64})
  AND ${hourKeyBound('timestamp', 'fromUnixTimestamp64Milli({window_start_ms:Int64})', 'fromUnixTimestamp64Milli({window_end_ms:Int64})')}
  AND institution = {institution:String}
  ${rule.perCustomer ? 'AND customer_id = {customer_id:String}' : ''}
  AND ${countedSql(rule)}
ORDER BY timestamp DESC, request_id
LIMIT ${Math.trunc(rule.sampleSize)}`;
}

/** How far back the Grafana query must look (its relativeTimeRange.from), in seconds. */
export function lookbackSeconds(rule: Rule): number {
  if (rule.kind === 'webhook-failures') return rule.windowMinutes * 60;
  const before = rule.baseline.method === 'ewma' ? rule.baseline.hours * 3600 : rule.baseline.days * 86400;
  return before + rule.windowMinutes * 60;
}
