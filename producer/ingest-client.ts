import { recordKinds, type InputOf, type RecordKind } from '../schema/records.js';

/** What a producer sends: the ingest API's input shapes (schema/records.ts is the one definition). */
export type { InputOf };
export type RequestLogInput = InputOf['logs'];
export type WebhookAttemptInput = InputOf['webhook-attempts'];
export type LinkStateInput = InputOf['links'];

export interface IngestTarget {
  /** Base URL of the ingest API, e.g. http://127.0.0.1:8080 */
  url: string;
  apiKey: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** For tests and proxies; the global fetch by default. */
  fetch?: typeof fetch;
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}
export const defaultRetry: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 10_000 };

export type PostOutcome =
  | { ok: true; status: number; accepted: number; rejected: number; tries: number }
  | { ok: false; status: number | null; error: string; tries: number };

/** 408, 429 and 5xx may pass later; other 4xx never will (the batch itself is wrong). */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/** Full-jitter exponential backoff, at least what Retry-After asks for. */
function delayFor(tryNo: number, policy: RetryPolicy, retryAfterS: number | null): number {
  const backoff = Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (tryNo - 1));
  const asked = retryAfterS !== null && Number.isFinite(retryAfterS) ? Math.min(retryAfterS * 1000, policy.maxDelayMs) : 0;
  return Math.max(backoff, asked);
}

/**
 * Posts one batch with its Idempotency-Key, retrying transient failures with backoff. The same key
 * on every try makes a retry after a lost response harmless: ingest replays its first answer.
 * Never throws.
 */
export async function postBatch<K extends RecordKind>(
  target: IngestTarget,
  kind: K,
  records: readonly InputOf[K][],
  idempotencyKey: string,
  retry: RetryPolicy = defaultRetry,
  stopRetrying: () => boolean = () => false,
): Promise<PostOutcome> {
  const doFetch = target.fetch ?? fetch;
  let body: string;
  try {
    body = JSON.stringify(records);
  } catch (err) {
    return { ok: false, status: null, error: `batch cannot be serialised: ${(err as Error).message}`, tries: 0 };
  }
  let last: { status: number | null; error: string } = { status: null, error: 'not sent' };
  for (let tryNo = 1; tryNo <= retry.attempts; tryNo++) {
    let retryAfter: number | null = null;
    try {
      const res = await doFetch(`${target.url}${recordKinds[kind].path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${target.apiKey}`, 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
        body,
        signal: AbortSignal.timeout(target.timeoutMs ?? 10_000),
      });
      const text = await res.text();
      if (res.status === 202 || res.status === 207) {
        const json = JSON.parse(text) as { accepted?: number; rejected?: unknown[] };
        return { ok: true, status: res.status, accepted: json.accepted ?? 0, rejected: json.rejected?.length ?? 0, tries: tryNo };
      }
      last = { status: res.status, error: text.slice(0, 500) };
      if (!retryable(res.status)) return { ok: false, ...last, tries: tryNo };
      retryAfter = res.headers.has('retry-after') ? Number(res.headers.get('retry-after')) : null;
    } catch (err) {
      last = { status: null, error: err instanceof Error ? err.message : String(err) };
    }
    if (tryNo === retry.attempts || stopRetrying()) return { ok: false, ...last, tries: tryNo };
    await new Promise((r) => setTimeout(r, delayFor(tryNo, retry, retryAfter)));
  }
  return { ok: false, ...last, tries: retry.attempts };
}
