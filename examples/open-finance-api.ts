/**
 * An example open-finance API instrumented with the producer plugins: the request middleware
 * records every call, the webhook sender is wrapped by the recorder, and link status changes are
 * posted as link states. Run it: INGEST_URL=... INGEST_API_KEY=... npx tsx examples/open-finance-api.ts
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createProducer, type Producer, type ShipperOptions, type WebhookSend } from '../producer/index.js';

type LinkStatus = 'valid' | 'invalid' | 'token_required';
interface Link {
  id: string;
  institution: string;
  external_id?: string;
  customer_id: string;
  access_mode: 'recurrent' | 'single';
  status: LinkStatus;
  created_at: number;
  /** MFA institutions ask for a token until the end user has given one. */
  tokenGiven: boolean;
}

export interface ExampleApiOptions {
  ingest: ShipperOptions;
  /** Bearer secret -> customer id, and each customer's webhook URL. */
  customers: Record<string, { id: string; webhookUrl: string }>;
  /** Institutions whose logins ask for an MFA token on the first data request. */
  mfaInstitutions?: string[];
  /** Institutions answering 502 (an outage). */
  downInstitutions?: string[];
  /** Wait before each webhook retry; its length + 1 is the number of tries. */
  webhookRetryDelaysMs?: number[];
  /** The real sender; fetch by default. */
  send?: WebhookSend;
}

const id = () => randomBytes(16).toString('hex');
const institutions = ['erebor_mx_retail', 'gringotts_br_retail', 'banco_azul_co'];

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function createOpenFinanceApi(o: ExampleApiOptions) {
  const producer: Producer = createProducer(o.ingest);
  const links = new Map<string, Link>();
  const pending = new Set<Promise<void>>();
  const send = producer.webhooks(o.send ?? ((url, init) => fetch(url, init)));
  const retryDelays = o.webhookRetryDelaysMs ?? [1000, 5000, 30_000];

  const app = express();
  app.disable('x-powered-by');
  app.use(
    producer.requests({
      // Handlers put the link they worked on in res.locals: the extractors read it from there.
      extract: {
        link_id: (_req, res) => (res.locals.link as Link | undefined)?.id,
        institution: (req, res) => (res.locals.link as Link | undefined)?.institution ?? (req.body as { institution?: string } | undefined)?.institution,
        external_id: (_req, res) => (res.locals.link as Link | undefined)?.external_id,
        customer_id: (_req, res) => res.locals.customer as string | undefined,
      },
      skip: (req) => req.path === '/healthz',
    }),
  );
  app.use(express.json());
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  // Route-level (not app-level) auth: a refused call still has its route template recorded.
  const auth = (req: Request, res: Response, next: NextFunction) => {
    const secret = req.get('Authorization')?.replace(/^Bearer /, '') ?? '';
    const customer = o.customers[secret];
    if (!customer) throw new HttpError(401, 'authentication_failed', 'Invalid API credentials');
    res.locals.customer = customer.id;
    next();
  };

  const setStatus = (link: Link, status: LinkStatus) => {
    link.status = status;
    producer.linkState({ link_id: link.id, status, access_mode: link.access_mode, institution: link.institution, created_at: link.created_at, updated_at: Date.now(), external_id: link.external_id, customer_id: link.customer_id });
  };
  const ownLink = (req: Request, res: Response, linkId: unknown): Link => {
    const link = typeof linkId === 'string' ? links.get(linkId) : undefined;
    if (!link || link.customer_id !== res.locals.customer) throw new HttpError(404, 'not_found', 'The link does not exist');
    res.locals.link = link;
    return link;
  };
  const webhookUrlOf = (customerId: string) => Object.values(o.customers).find((c) => c.id === customerId)!.webhookUrl;

  /** Delivers a webhook in the background, retrying failures; each try is recorded by the wrapped sender. */
  const notify = (link: Link, type: string, event: string, data: Record<string, unknown>) => {
    const payload = { webhook_id: id(), webhook_type: type, webhook_code: event, link_id: link.id, external_id: link.external_id, data };
    const init: RequestInit = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload), signal: undefined };
    const delivery = (async () => {
      for (let tryNo = 0; tryNo <= retryDelays.length; tryNo++) {
        if (tryNo > 0) await new Promise((r) => setTimeout(r, retryDelays[tryNo - 1]));
        try {
          const res = await send(webhookUrlOf(link.customer_id), { ...init, signal: AbortSignal.timeout(5000) });
          await res.body?.cancel();
          if (res.ok) return;
        } catch {
          /* no response: retry */
        }
      }
    })();
    pending.add(delivery);
    void delivery.finally(() => pending.delete(delivery));
  };

  const router = express.Router();
  router.post('/links/', auth, (req, res) => {
    const b = (req.body ?? {}) as { institution?: string; username?: string; password?: string; external_id?: string; access_mode?: string };
    if (!b.institution || !institutions.includes(b.institution)) throw new HttpError(400, 'request_error', 'institution is missing or unknown');
    if (b.password === 'wrong') throw new HttpError(401, 'login_error', 'Invalid credentials provided to login to the institution');
    const link: Link = { id: `${id().slice(0, 8)}-${id().slice(0, 4)}`, institution: b.institution, external_id: b.external_id, customer_id: res.locals.customer as string, access_mode: b.access_mode === 'single' ? 'single' : 'recurrent', status: 'valid', created_at: Date.now(), tokenGiven: false };
    links.set(link.id, link);
    res.locals.link = link;
    setStatus(link, 'valid');
    res.status(201).json({ id: link.id, status: link.status, institution: link.institution });
  });
  router.get('/links/:link_id/', auth, (req, res) => {
    const link = ownLink(req, res, req.params.link_id);
    res.json({ id: link.id, status: link.status, institution: link.institution, access_mode: link.access_mode });
  });
  router.patch('/links/:link_id/', auth, (req, res) => {
    const link = ownLink(req, res, req.params.link_id);
    const token = (req.body as { token?: string } | undefined)?.token;
    if (link.status !== 'token_required') throw new HttpError(400, 'request_error', 'the link does not need a token');
    if (token === 'bad') {
      setStatus(link, 'invalid');
      notify(link, 'LINKS', 'invalid_credentials', {});
      throw new HttpError(401, 'invalid_credentials', 'The MFA token was rejected by the institution');
    }
    link.tokenGiven = true;
    setStatus(link, 'valid');
    res.json({ id: link.id, status: link.status });
  });
  router.delete('/links/:link_id/', auth, (req, res) => {
    const link = ownLink(req, res, req.params.link_id);
    links.delete(link.id);
    res.status(204).end();
  });
  router.post('/transactions/', auth, (req, res) => {
    const b = (req.body ?? {}) as { link?: string; date_from?: string; date_to?: string };
    const link = ownLink(req, res, b.link);
    if (!b.date_from || !b.date_to || b.date_from > b.date_to) throw new HttpError(400, 'request_error', 'The request body is invalid: date_from must be before date_to');
    if (o.downInstitutions?.includes(link.institution)) throw new HttpError(502, 'institution_down', 'The institution is unavailable');
    if (link.status === 'invalid') throw new HttpError(401, 'invalid_credentials', 'The link credentials are no longer valid');
    if (link.status === 'token_required' || (o.mfaInstitutions?.includes(link.institution) && !link.tokenGiven)) {
      if (link.status !== 'token_required') {
        setStatus(link, 'token_required');
        notify(link, 'LINKS', 'token_required', {});
      }
      throw new HttpError(428, 'token_required', 'A MFA token is required by the institution to login');
    }
    const transactions = [{ id: id(), amount: 125.5, description: 'PAYROLL ACME', account: { number: '0042-7781' } }];
    notify(link, 'TRANSACTIONS', 'new_transactions_available', { new_transactions: transactions.length });
    res.status(201).json(transactions);
  });
  router.get('/accounts/', auth, (req, res) => {
    const link = ownLink(req, res, req.query.link);
    res.json([{ id: id(), balance: { current: 5230.12 }, number: '0042-7781', institution: link.institution }]);
  });
  router.get('/owners/:owner_id/', auth, () => {
    throw new Error('owners store unreachable'); // an internal bug: answered 500 by the error handler
  });
  app.use('/api', router);

  app.use((_req: Request, res: Response) => {
    res.status(404).json([{ code: 'not_found', message: 'No such endpoint', request_id: res.getHeader('X-Request-Id') }]);
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err instanceof HttpError ? err : new HttpError(500, 'unexpected_error', 'An unexpected error occurred on our side');
    res.status(e.status).json([{ code: e.code, message: e.message, request_id: res.getHeader('X-Request-Id') }]);
  });

  return {
    app,
    producer,
    /** Resolves when every webhook delivery started so far has finished its tries. */
    async webhooksIdle() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
    async close() {
      await this.webhooksIdle();
      await producer.close();
    },
  };
}

// Run directly: a demo server recording into a running pipeline.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ingestUrl = process.env.INGEST_URL ?? 'http://127.0.0.1:8080';
  const apiKey = process.env.INGEST_API_KEY ?? '';
  if (!apiKey) {
    console.error('set INGEST_API_KEY (and INGEST_URL, default http://127.0.0.1:8080)');
    process.exit(1);
  }
  const api = createOpenFinanceApi({
    ingest: { url: ingestUrl, apiKey, onError: (m) => console.error(m) },
    customers: { 'secret-acme': { id: 'acme_lending', webhookUrl: process.env.WEBHOOK_URL ?? 'http://127.0.0.1:9/hooks' } },
    mfaInstitutions: ['erebor_mx_retail'],
  });
  const port = Number(process.env.PORT ?? 3001);
  const server = api.app.listen(port, () => console.log(`example API on http://127.0.0.1:${port} (Authorization: Bearer secret-acme), recording into ${ingestUrl}`));
  const stop = () => {
    server.close();
    void api.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
