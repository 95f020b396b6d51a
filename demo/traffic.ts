/**
 * Realistic open-finance traffic for the demo: customers whose end users connect links to
 * institutions, the API calls made per link (2xx, 4xx, 5xx, 428 token_required), link state
 * changes and webhook deliveries with failed and retried attempts. Deterministic for a seed.
 */

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const institutions = ['erebor_mx_retail', 'gringotts_br_retail', 'banco_azul_co', 'iron_bank_br_business', 'rivendell_mx_fiscal'];
const customers = ['acme_lending', 'fintrack_app', 'paywise'];
const endpoints: { path: string; method: string; weight: number }[] = [
  { path: '/api/transactions/', method: 'POST', weight: 30 },
  { path: '/api/accounts/', method: 'POST', weight: 20 },
  { path: '/api/balances/', method: 'POST', weight: 12 },
  { path: '/api/owners/', method: 'POST', weight: 8 },
  { path: '/api/links/', method: 'GET', weight: 10 },
  { path: '/api/links/', method: 'POST', weight: 4 },
  { path: '/api/links/{id}/', method: 'PATCH', weight: 3 },
  { path: '/api/links/{id}/', method: 'DELETE', weight: 1 },
  { path: '/api/transactions/', method: 'GET', weight: 8 },
  { path: '/api/invoices/', method: 'POST', weight: 4 },
];
const errors = {
  400: { code: 'request_error', message: 'The request body is invalid: date_from must be before date_to', origin: 'internal' },
  401: { code: 'authentication_failed', message: 'Invalid API credentials', origin: 'internal' },
  404: { code: 'not_found', message: 'The link does not exist', origin: 'internal' },
  408: { code: 'institution_timeout', message: 'The institution did not answer in time', origin: 'institution' },
  428: { code: 'token_required', message: 'A MFA token is required by the institution to login', origin: 'institution' },
  500: { code: 'unexpected_error', message: 'An unexpected error occurred on our side', origin: 'internal' },
  502: { code: 'institution_down', message: 'The institution is unavailable', origin: 'institution' },
  503: { code: 'institution_unavailable', message: 'The institution is under maintenance', origin: 'institution' },
} as const;
const webhookEvents = [
  { type: 'TRANSACTIONS', event: 'new_transactions_available' },
  { type: 'ACCOUNTS', event: 'new_accounts_available' },
  { type: 'BALANCES', event: 'new_balances_available' },
  { type: 'LINKS', event: 'historical_update' },
  { type: 'LINKS', event: 'token_required' },
  { type: 'LINKS', event: 'invalid_credentials' },
];

interface DemoLink {
  link_id: string;
  external_id: string;
  institution: string;
  customer_id: string;
  access_mode: 'recurrent' | 'single';
  status: 'valid' | 'invalid' | 'unconfirmed' | 'token_required';
  created_at: number;
}

export interface TrafficBatch {
  logs: Record<string, unknown>[];
  webhookAttempts: Record<string, unknown>[];
  links: Record<string, unknown>[];
}

const hex = (r: () => number, n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');

export class DemoTraffic {
  private readonly r: () => number;
  private readonly links: DemoLink[] = [];
  private seq = 0;

  constructor(seed = 42, linkCount = 120, now = Date.now()) {
    this.r = rng(seed);
    for (let i = 0; i < linkCount; i++) {
      const institution = this.pick(institutions);
      this.links.push({
        link_id: `${hex(this.r, 8)}-${hex(this.r, 4)}-${hex(this.r, 4)}-${hex(this.r, 12)}`,
        external_id: `user-${1000 + i}`,
        institution,
        customer_id: this.pick(customers),
        access_mode: this.r() < 0.75 ? 'recurrent' : 'single',
        status: 'valid',
        created_at: now - Math.floor(this.r() * 45 * 86_400_000),
      });
    }
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }

  private weighted<T extends { weight: number }>(xs: T[]): T {
    let x = this.r() * xs.reduce((a, b) => a + b.weight, 0);
    for (const e of xs) if ((x -= e.weight) < 0) return e;
    return xs[xs.length - 1]!;
  }

  /** Initial link states: what a customer's dashboard would list. */
  linkStates(now: number): Record<string, unknown>[] {
    return this.links.map((l) => this.linkState(l, Math.max(l.created_at, now - 3_600_000)));
  }

  private linkState(l: DemoLink, at: number) {
    return {
      link_id: l.link_id,
      status: l.status,
      access_mode: l.access_mode,
      institution: l.institution,
      created_at: l.created_at,
      updated_at: at,
      external_id: l.external_id,
      customer_id: l.customer_id,
    };
  }

  /** About `requests` API calls spread over [from, to), with the webhooks and link changes they cause. */
  batch(from: number, to: number, requests: number): TrafficBatch {
    const out: TrafficBatch = { logs: [], webhookAttempts: [], links: [] };
    for (let i = 0; i < requests; i++) {
      const at = from + Math.floor(this.r() * (to - from));
      const link = this.pick(this.links);
      const ep = this.weighted(endpoints);
      const status = this.statusFor(link);
      const requestId = hex(this.r, 32);
      const err = status >= 400 ? errors[status as keyof typeof errors] : undefined;
      out.logs.push({
        request_id: requestId,
        timestamp: at,
        method: ep.method,
        endpoint: ep.path,
        status_code: status,
        duration_ms: Math.round((status === 408 ? 30_000 : 80 + this.r() * 900 + (ep.path.includes('transactions') ? 1200 * this.r() : 0)) * 10) / 10,
        link_id: link.link_id,
        external_id: link.external_id,
        institution: link.institution,
        customer_id: link.customer_id,
        source: this.r() < 0.9 ? 'api' : 'dashboard',
        ...(err
          ? { error: { code: err.code, message: err.message }, error_origin: err.origin, response_body: [{ code: err.code, message: err.message, request_id: requestId }] }
          : { response_body: { id: hex(this.r, 8), balance: Math.round(this.r() * 100_000) / 100 } }),
      });
      // token_required flips the link; a later successful call with a token brings it back
      if (status === 428 && link.status === 'valid') {
        link.status = 'token_required';
        out.links.push(this.linkState(link, at));
        this.webhook(out, link, 'LINKS', 'token_required', at);
      } else if (status < 300 && link.status === 'token_required' && this.r() < 0.3) {
        link.status = 'valid';
        out.links.push(this.linkState(link, at));
      } else if (status === 401 && this.r() < 0.2) {
        link.status = 'invalid';
        out.links.push(this.linkState(link, at));
        this.webhook(out, link, 'LINKS', 'invalid_credentials', at);
      }
      if (status < 300 && ep.method === 'POST' && this.r() < 0.25) {
        const ev = this.pick(webhookEvents.slice(0, 4));
        this.webhook(out, link, ev.type, ev.event, at + 500);
      }
    }
    return out;
  }

  private statusFor(link: DemoLink): number {
    if (link.status === 'token_required') return this.r() < 0.7 ? 428 : 200;
    if (link.status === 'invalid') return this.r() < 0.8 ? 401 : 404;
    const x = this.r();
    if (x < 0.8) return 200;
    if (x < 0.86) return 201;
    if (x < 0.88) return 204;
    if (x < 0.905) return 428;
    if (x < 0.925) return 400;
    if (x < 0.94) return 404;
    if (x < 0.955) return 408;
    if (x < 0.975) return 500;
    if (x < 0.99) return 502;
    return 503;
  }

  /** A webhook event with its delivery attempts: failures (5xx, timeouts) are retried with backoff. */
  private webhook(out: TrafficBatch, link: DemoLink, type: string, event: string, at: number) {
    const webhookId = hex(this.r, 24);
    const url = `https://hooks.${link.customer_id.replace(/_/g, '-')}.example/belvo`;
    const payload = { webhook_id: webhookId, webhook_type: type, webhook_code: event, link_id: link.link_id, request_id: hex(this.r, 32), external_id: link.external_id, data: { new_records: Math.floor(this.r() * 50) } };
    const endpointDown = link.customer_id === 'paywise' && this.r() < 0.3;
    for (let attempt = 1; attempt <= 4; attempt++) {
      const fail = endpointDown || this.r() < 0.12;
      const timeout = fail && this.r() < 0.4;
      out.webhookAttempts.push({
        webhook_id: webhookId,
        event,
        type,
        link_id: link.link_id,
        external_id: link.external_id,
        customer_id: link.customer_id,
        attempt,
        url,
        status_code: timeout ? null : fail ? this.pick([500, 502, 503, 404]) : 200,
        ...(timeout ? { error: 'timeout' } : {}),
        duration_ms: timeout ? 10_000 : Math.round(50 + this.r() * 400),
        timestamp: at + (attempt - 1) * 60_000 * attempt,
        payload,
      });
      if (!fail) break;
    }
    this.seq++;
  }
}
