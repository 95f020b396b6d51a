import type { Rule } from './rule.js';
import { countedSql } from './rule-sql.js';
import type { Figures, InstanceLabels, InstanceState, Notice } from './state-machine.js';

/**
 * The JSON body of a notice (webhook) and the figures an Alertmanager alert carries. Version the
 * body like the queue payloads: new fields only ever optional.
 */
export interface AlertNotification {
  version: 1;
  /** Stable per notice: receivers can drop a retried delivery by it (also the Idempotency-Key header). */
  id: string;
  status: 'firing' | 'resolved';
  notice: Notice;
  rule: { uid: string; title: string; severity: string; condition: string };
  institution: string;
  customer_id?: string;
  /** The rule's ratio: errors, 428 token_required answers, or failed webhook delivery attempts, over requests (attempts). */
  error_ratio: number;
  baseline_ratio: number;
  threshold: number;
  requests: number;
  errors: number;
  window: { start: string; end: string; minutes: number };
  /** Evidence from the window matching the rule's filter: request_ids (webhook_ids for the webhook rule). */
  sample_request_ids: string[];
  started_at: string;
  firing_since?: string;
  resolved_at?: string;
  evaluated_at: string;
  links: { insights: string; logs: string };
  summary: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const pct = (r: number) => `${(r * 100).toFixed(1)}%`;

export function instanceKey(labels: InstanceLabels): string {
  if (labels.customer_id === undefined) return labels.institution;
  return labels.institution ? `${labels.institution}/${labels.customer_id}` : labels.customer_id;
}

/** Insights and Logs filtered to the instance, over the window (Logs) and the hours around it (Insights). */
export function dashboardLinks(grafanaUrl: string, labels: InstanceLabels, windowStart: number, windowEnd: number) {
  const base = grafanaUrl.replace(/\/+$/, '');
  const filters = labels.institution ? [`var-institution=${encodeURIComponent(labels.institution)}`] : [];
  if (labels.customer_id !== undefined) filters.push(`var-customer=${encodeURIComponent(labels.customer_id)}`);
  const q = (from: number, to: number) => [...filters, `from=${from}`, `to=${to}`].join('&');
  return {
    insights: `${base}/d/insights?${q(windowEnd - 6 * 3600_000, windowEnd)}`,
    logs: `${base}/d/logs?${q(windowStart, windowEnd)}`,
  };
}

export function conditionText(rule: Rule): string {
  if (rule.kind === 'webhook-failures') {
    return (
      `failed webhook delivery attempts (no 2xx: error status, timeout, refused) / attempts per customer over ${rule.windowMinutes} min, ` +
      `with >= ${rule.minAttempts} attempts, above ${pct(rule.failureRatio)}; for ${rule.forSeconds}s; ${resolveText(rule)}`
    );
  }
  const baseline =
    rule.baseline.method === 'ewma'
      ? `EWMA of the previous ${rule.baseline.hours} h (half-life ${rule.baseline.halfLifeMinutes} min)`
      : `median of the same window on the previous ${rule.baseline.days} days`;
  return (
    `${rule.kind === 'error-rate' ? 'errors' : 'token_required answers'} ${countedSql(rule)} / requests over ${rule.windowMinutes} min, with >= ${rule.minRequests} requests, ` +
    `above ${pct(rule.errorRatioFloor)} and above min(${rule.baselineFactor}x baseline, baseline + ${rule.highBaselineRise} x (1 - baseline)); ` +
    `baseline: ${baseline}; for ${rule.forSeconds}s; ${resolveText(rule)}`
  );
}

const resolveText = (rule: Rule) => `resolves after ${rule.resolve.afterSeconds}s below ${rule.resolve.below} x its threshold`;

/** What the ratio is, in a sentence. */
const ratioName = (rule: Rule) =>
  rule.kind === 'error-rate' ? 'error ratio' : rule.kind === 'token-required' ? 'token_required share' : 'failed delivery share';
const countText = (rule: Rule, f: Figures) =>
  rule.kind === 'webhook-failures' ? `${f.errors}/${f.requests} attempts` : `${f.errors}/${f.requests} requests`;

export function buildNotification(
  rule: Rule,
  instance: Pick<InstanceState, 'key' | 'labels' | 'activeAt' | 'firingAt'>,
  notice: Notice,
  ctx: { figures: Figures; evaluatedAt: number; windowStart: number; windowEnd: number; samples: string[]; grafanaUrl: string },
): AlertNotification {
  const { figures: f, labels } = { figures: ctx.figures, labels: instance.labels };
  const status = notice === 'resolved' ? 'resolved' : 'firing';
  const who = instanceKey(labels);
  const summary =
    status === 'firing'
      ? `${who}: ${ratioName(rule)} ${pct(f.error_ratio)} (${countText(rule, f)} in ${rule.windowMinutes} min), ${rule.kind === 'webhook-failures' ? '' : `baseline ${pct(f.baseline_ratio)}, `}threshold ${pct(f.threshold)}`
      : `${who}: ${ratioName(rule)} back to ${pct(f.error_ratio)} (${countText(rule, f)} in ${rule.windowMinutes} min), under its threshold ${pct(f.threshold)}`;
  return {
    version: 1,
    id: `${rule.uid}/${who}/${instance.activeAt}/${notice === 'reminder' ? `reminder-${ctx.evaluatedAt}` : notice}`,
    status,
    notice,
    rule: { uid: rule.uid, title: rule.title, severity: rule.severity, condition: conditionText(rule) },
    institution: labels.institution,
    ...(labels.customer_id !== undefined ? { customer_id: labels.customer_id } : {}),
    error_ratio: f.error_ratio,
    baseline_ratio: f.baseline_ratio,
    threshold: f.threshold,
    requests: f.requests,
    errors: f.errors,
    window: { start: iso(ctx.windowStart), end: iso(ctx.windowEnd), minutes: rule.windowMinutes },
    sample_request_ids: ctx.samples,
    started_at: iso(instance.activeAt),
    ...(instance.firingAt !== undefined ? { firing_since: iso(instance.firingAt) } : {}),
    ...(status === 'resolved' ? { resolved_at: iso(ctx.evaluatedAt) } : {}),
    evaluated_at: iso(ctx.evaluatedAt),
    links: dashboardLinks(ctx.grafanaUrl, labels, ctx.windowStart, ctx.windowEnd),
    summary,
  };
}
