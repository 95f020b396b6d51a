import { createHmac } from 'node:crypto';
import type { AlertNotification } from './notification.js';

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export const signatureHeader = 'X-Alert-Signature';

/** Signing the timestamp with the body lets a receiver refuse a replayed old notice. */
export function sign(secret: string, timestampS: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex');
  return `t=${timestampS},v1=${mac}`;
}

export class DeliveryError extends Error {}

async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Drain the body so the connection is reused; the text helps when delivery fails.
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new DeliveryError(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
}

/** The generic webhook: the notification as JSON, signed when a secret is configured. */
export async function sendWebhook(opts: { url: string; secret?: string; timeoutMs?: number }, notification: AlertNotification, nowMs = Date.now()) {
  const body = JSON.stringify(notification);
  const headers: Record<string, string> = { 'Idempotency-Key': notification.id, 'User-Agent': 'api-observability-alerts/1' };
  if (opts.secret) headers[signatureHeader] = sign(opts.secret, Math.floor(nowMs / 1000), body);
  await post(opts.url, body, headers, opts.timeoutMs ?? 10_000);
}

/** The Alertmanager v2 API's postable alert. */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

/**
 * Firing alerts carry endsAt a few intervals ahead, like Prometheus: they are re-sent every
 * evaluation, and if we stop (crash), Alertmanager resolves them itself when the lease runs out.
 * Alertmanager, not us, decides about repeats (its own group and repeat intervals).
 */
export function toAlertmanagerAlert(n: AlertNotification, leaseUntilMs: number, alertname: string): AlertmanagerAlert {
  const labels: Record<string, string> = { alertname, rule_uid: n.rule.uid, severity: n.rule.severity };
  if (n.institution) labels.institution = n.institution;
  if (n.customer_id !== undefined) labels.customer_id = n.customer_id;
  return {
    labels,
    annotations: {
      summary: n.summary,
      error_ratio: String(n.error_ratio),
      baseline_ratio: String(n.baseline_ratio),
      threshold: String(n.threshold),
      requests: String(n.requests),
      errors: String(n.errors),
      window: `${n.window.start}/${n.window.end}`,
      sample_request_ids: n.sample_request_ids.join(','),
      insights: n.links.insights,
      logs: n.links.logs,
    },
    startsAt: n.firing_since ?? n.started_at,
    endsAt: n.status === 'resolved' ? n.resolved_at! : new Date(leaseUntilMs).toISOString(),
    generatorURL: n.links.insights,
  };
}

export async function sendToAlertmanager(opts: { url: string; timeoutMs?: number }, alerts: AlertmanagerAlert[]) {
  if (alerts.length === 0) return;
  await post(`${opts.url.replace(/\/+$/, '')}/api/v2/alerts`, JSON.stringify(alerts), {}, opts.timeoutMs ?? 10_000);
}
