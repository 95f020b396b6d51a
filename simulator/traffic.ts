import { hex, pick, rng, weighted, type Rng } from './random.js';
import { customers, dataEvents, endpoints, errors, institutions, webhookUrl } from './world.js';

/**
 * Open-finance traffic: customers whose end users connect links to institutions, the API calls
 * made per link, the link lifecycle (valid -> token_required -> valid / invalid) and webhook
 * deliveries with retried attempts. Deterministic for a seed. Records are in ingest input shape.
 */

export type LinkStatus = 'valid' | 'invalid' | 'unconfirmed' | 'token_required';
export interface SimLink {
  link_id: string;
  external_id: string;
  institution: string;
  customer_id: string;
  access_mode: 'recurrent' | 'single';
  status: LinkStatus;
  created_at: number;
}

export interface TrafficBatch {
  logs: Record<string, unknown>[];
  webhookAttempts: Record<string, unknown>[];
  links: Record<string, unknown>[];
}

/** What is going wrong during a slice of time (scenarios switch these on and off). */
export interface Conditions {
  /** One institution answers 5xx to this share of its calls. */
  outage?: { institution: string; share: number };
  /** Valid links at one institution are asked for an MFA token on this share of their calls. */
  tokenBurst?: { institution: string; share: number };
  /** A customer's webhook endpoint answers nothing: every attempt fails, up to the last retry. */
  webhookDown?: { customer_id: string };
}

export interface TrafficOptions {
  seed?: number;
  links?: number;
  /** Anchor time: link creation dates are spread over the 45 days before it. */
  now?: number;
  /** Prefixes customer ids (separates runs sharing one database, e.g. in tests). */
  customerPrefix?: string;
}

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
/** Tries per webhook: the first delivery and its retries. */
export const MAX_WEBHOOK_ATTEMPTS = 5;

export class TrafficGenerator {
  private readonly r: Rng;
  readonly links: SimLink[] = [];

  constructor(o: TrafficOptions = {}) {
    const now = o.now ?? Date.now();
    this.r = rng(o.seed ?? 42);
    const prefix = o.customerPrefix ?? '';
    for (let i = 0; i < (o.links ?? 120); i++) {
      this.links.push({
        link_id: `${hex(this.r, 8)}-${hex(this.r, 4)}-${hex(this.r, 4)}-${hex(this.r, 12)}`,
        external_id: `user-${1000 + i}`,
        institution: pick(this.r, institutions),
        customer_id: prefix + pick(this.r, customers),
        access_mode: this.r() < 0.75 ? 'recurrent' : 'single',
        status: 'valid',
        created_at: now - Math.floor(this.r() * 45 * DAY),
      });
    }
  }

  /** Every link's current state, as of `at` (never before the link was created). */
  linkStates(at: number): Record<string, unknown>[] {
    return this.links.map((l) => this.linkState(l, Math.max(l.created_at, at)));
  }

  private linkState(l: SimLink, at: number) {
    const { link_id, status, access_mode, institution, created_at, external_id, customer_id } = l;
    return { link_id, status, access_mode, institution, created_at, updated_at: at, external_id, customer_id };
  }

  /** About `requests` API calls spread over [from, to), with the webhooks and link changes they cause. */
  batch(from: number, to: number, requests: number, conditions: Conditions = {}): TrafficBatch {
    const out: TrafficBatch = { logs: [], webhookAttempts: [], links: [] };
    const times = Array.from({ length: requests }, () => from + Math.floor(this.r() * (to - from))).sort((a, b) => a - b);
    for (const at of times) {
      let link = pick(this.r, this.links);
      // Customers mostly stop calling links that went invalid until the user reconnects.
      if (link.status === 'invalid' && this.r() < 0.8) link = pick(this.r, this.links);
      if (link.created_at > at) continue; // not connected yet at that time
      const ep = weighted(this.r, endpoints);
      const status = this.statusFor(link, conditions);
      out.logs.push(this.requestLog(link, ep, status, at));
      this.lifecycle(out, link, status, at, conditions);
      if (status < 300 && ep.method === 'POST' && this.r() < 0.25) {
        const ev = pick(this.r, dataEvents);
        this.webhook(out, link, ev.type, ev.event, at + 500, conditions);
      }
    }
    return out;
  }

  private requestLog(link: SimLink, ep: { path: string; method: string }, status: number, at: number) {
    const requestId = hex(this.r, 32);
    const err = status >= 400 ? errors[status] : undefined;
    const slow = status === 408 || status === 504 ? 30_000 : 0;
    return {
      request_id: requestId,
      timestamp: at,
      method: ep.method,
      endpoint: ep.path,
      status_code: status,
      duration_ms: Math.round((slow || 80 + this.r() * 900 + (ep.path.includes('transactions') ? 1200 * this.r() : 0)) * 10) / 10,
      link_id: link.link_id,
      external_id: link.external_id,
      institution: link.institution,
      customer_id: link.customer_id,
      source: this.r() < 0.9 ? 'api' : 'dashboard',
      ...(err
        ? { error: { code: err.code, message: err.message }, error_origin: err.origin, response_body: [{ code: err.code, message: err.message, request_id: requestId }] }
        : { response_body: { id: hex(this.r, 8), balance: Math.round(this.r() * 100_000) / 100 } }),
    };
  }

  /** valid -> token_required (428) -> valid (token given) or invalid (credentials refused) -> valid (reconnected). */
  private lifecycle(out: TrafficBatch, link: SimLink, status: number, at: number, c: Conditions) {
    const change = (to: LinkStatus, event?: string) => {
      link.status = to;
      out.links.push(this.linkState(link, at));
      if (event) this.webhook(out, link, 'LINKS', event, at + 200, c);
    };
    if (status === 428 && link.status === 'valid') change('token_required', 'token_required');
    else if (link.status === 'token_required' && status < 300) change('valid');
    else if (link.status === 'token_required' && status === 401) change('invalid', 'invalid_credentials');
    else if (link.status === 'valid' && status === 401 && this.r() < 0.3) change('invalid', 'invalid_credentials');
    // The end user reconnects (new credentials): without this, a long run ends with every link invalid.
    else if (link.status === 'invalid' && status < 300) change('valid');
  }

  private statusFor(link: SimLink, c: Conditions): number {
    if (c.outage?.institution === link.institution && this.r() < c.outage.share) return pick(this.r, [502, 503, 503, 504]);
    // During a burst the institution asks for a token at almost every login, given one or not.
    if (c.tokenBurst?.institution === link.institution && link.status !== 'invalid' && this.r() < c.tokenBurst.share) return 428;
    if (link.status === 'token_required') {
      const x = this.r();
      return x < 0.6 ? 428 : x < 0.88 ? 200 : 401;
    }
    if (link.status === 'invalid') {
      const x = this.r();
      return x < 0.15 ? 200 : x < 0.85 ? 401 : 404;
    }
    const x = this.r();
    if (x < 0.8) return 200;
    if (x < 0.86) return 201;
    if (x < 0.88) return 204;
    if (x < 0.9) return 428;
    if (x < 0.92) return 400;
    if (x < 0.935) return 404;
    if (x < 0.945) return 408;
    if (x < 0.965) return 500;
    if (x < 0.98) return 502;
    if (x < 0.995) return 503;
    return 401;
  }

  /** A webhook event and its delivery attempts: failures (5xx, timeouts) are retried with growing delays. */
  private webhook(out: TrafficBatch, link: SimLink, type: string, event: string, at: number, c: Conditions) {
    const webhookId = hex(this.r, 24);
    const url = webhookUrl(link.customer_id);
    const payload = { webhook_id: webhookId, webhook_type: type, webhook_code: event, link_id: link.link_id, request_id: hex(this.r, 32), external_id: link.external_id, data: { new_records: Math.floor(this.r() * 50) } };
    const down = c.webhookDown?.customer_id === link.customer_id;
    for (let attempt = 1; attempt <= MAX_WEBHOOK_ATTEMPTS; attempt++) {
      const fail = down || this.r() < 0.12;
      const noResponse = fail && (down ? this.r() < 0.7 : this.r() < 0.4);
      const refused = noResponse && down && this.r() < 0.6;
      out.webhookAttempts.push({
        webhook_id: webhookId,
        event,
        type,
        link_id: link.link_id,
        external_id: link.external_id,
        customer_id: link.customer_id,
        attempt,
        url,
        status_code: noResponse ? null : fail ? pick(this.r, [500, 502, 503, 404]) : 200,
        ...(noResponse ? { error: refused ? 'connection refused' : 'timeout' } : {}),
        duration_ms: noResponse ? (refused ? 3 : 10_000) : Math.round(50 + this.r() * 400),
        // retries back off: +1 min, +4 min, +9 min, ...
        timestamp: at + (attempt - 1) ** 2 * MIN,
        payload,
      });
      if (!fail) break;
    }
  }
}
