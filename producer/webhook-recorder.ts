import { performance } from 'node:perf_hooks';
import type { WebhookAttemptInput } from './ingest-client.js';
import type { Shipper } from './shipper.js';

/** The host's webhook sender: fetch, or anything shaped like it. */
export type WebhookSend = (url: string, init: RequestInit) => Promise<Response>;

/** What the recorder needs to know about a delivery, beyond what it measures. */
export interface WebhookDescription {
  webhook_id: string;
  event: string;
  type: string;
  link_id: string;
  external_id?: string;
  customer_id?: string;
  /** The try number when the sender knows it; else the recorder counts tries per webhook_id. */
  attempt?: number;
  payload?: Record<string, unknown>;
}

export interface WebhookRecorderOptions {
  /**
   * Describes a delivery from its request. The default reads the JSON body in the open-finance
   * webhook shape: webhook_id, webhook_type, webhook_code, link_id, external_id.
   */
  describe?: (url: string, init: RequestInit) => WebhookDescription | undefined;
  /** customer_id of every attempt when describe does not say. */
  customerId?: string | ((url: string) => string | undefined);
  onError?: (message: string) => void;
}

/** Tries remembered per webhook id for counting attempts (oldest forgotten first). */
const MAX_TRACKED = 10_000;

export function describeOpenFinanceWebhook(_url: string, init: RequestInit): WebhookDescription | undefined {
  if (typeof init.body !== 'string') return undefined;
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(init.body) as Record<string, unknown>;
  } catch {
    return undefined; // not a JSON webhook: not ours to record
  }
  if (!p || typeof p !== 'object') return undefined;
  const str = (k: string) => (typeof p[k] === 'string' ? (p[k] as string) : undefined);
  const webhook_id = str('webhook_id');
  const event = str('webhook_code');
  const type = str('webhook_type');
  const link_id = str('link_id');
  if (!webhook_id || !event || !type || !link_id) return undefined;
  return { webhook_id, event, type, link_id, external_id: str('external_id'), payload: p };
}

/** Why no response arrived, in the words a support engineer searches for. */
function networkError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns lookup failed';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  return (e?.cause?.message ?? e?.message ?? 'network error').slice(0, 1024);
}

/**
 * Wraps the host's sender so that every call (one try of a delivery) is recorded as one webhook
 * attempt: status or network error, duration until the response headers, attempt number, payload.
 * The sender's result and errors reach the host unchanged; a call it cannot describe is not recorded.
 */
export function recordWebhooks(send: WebhookSend, shipper: Shipper, options: WebhookRecorderOptions = {}): WebhookSend {
  const describe = options.describe ?? describeOpenFinanceWebhook;
  const tries = new Map<string, number>();
  const warn = (m: string) => {
    try {
      options.onError?.(`webhook recorder: ${m}`);
    } catch {
      /* ignore */
    }
  };

  const nextAttempt = (webhookId: string) => {
    const n = (tries.get(webhookId) ?? 0) + 1;
    tries.delete(webhookId); // re-insert: Map order is then least recently used first
    tries.set(webhookId, n);
    if (tries.size > MAX_TRACKED) tries.delete(tries.keys().next().value as string);
    return n;
  };

  const record = (d: WebhookDescription, url: string, startedAt: number, started: number, status: number | null, error?: string) => {
    try {
      const customer = typeof options.customerId === 'function' ? options.customerId(url) : options.customerId;
      const attempt: WebhookAttemptInput = {
        webhook_id: d.webhook_id,
        event: d.event,
        type: d.type,
        link_id: d.link_id,
        attempt: d.attempt ?? nextAttempt(d.webhook_id),
        url,
        status_code: status,
        timestamp: startedAt,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
        ...(error ? { error } : {}),
        ...(d.external_id ? { external_id: d.external_id } : {}),
        ...((d.customer_id ?? customer) ? { customer_id: d.customer_id ?? customer } : {}),
        ...(d.payload ? { payload: d.payload } : {}),
      };
      shipper.record('webhook-attempts', attempt);
    } catch (err) {
      warn(`could not record an attempt: ${(err as Error).message}`);
    }
  };

  return async function recordedSend(url: string, init: RequestInit): Promise<Response> {
    let d: WebhookDescription | undefined;
    try {
      d = describe(url, init);
    } catch (err) {
      warn(`describe failed: ${(err as Error).message}`);
    }
    const startedAt = Date.now();
    const started = performance.now();
    let res: Response;
    try {
      res = await send(url, init);
    } catch (err) {
      if (d) record(d, url, startedAt, started, null, networkError(err));
      throw err;
    }
    if (d) record(d, url, startedAt, started, res.status);
    return res;
  };
}
