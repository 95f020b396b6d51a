/**
 * A small open-finance API instrumented with OpenTelemetry only (no producer plugin): its SERVER
 * spans become request_logs rows and its webhook log records webhook_attempts rows, through the
 * ingest's /otlp endpoint. Run it (examples/otel-instrumentation.ts sets up the SDK first):
 *   OTEL_SERVICE_NAME=finance-api OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8080/otlp \
 *   OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer <key>' OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
 *   node --import tsx --import ./examples/otel-instrumentation.ts examples/otel-finance-api.ts
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { context, trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import { logs, SeverityNumber } from '@opentelemetry/api-logs';
import { getRPCMetadata } from '@opentelemetry/core';

interface Link {
  id: string;
  institution: string;
  external_id: string;
  customer_id: string;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/**
 * The SERVER span of the current request. Inside an Express handler the active span is the
 * Express instrumentation's INTERNAL "request handler" span, not the SERVER span that becomes the
 * request_logs row: the HTTP instrumentation keeps the SERVER span in the context's RPC metadata.
 */
function serverSpan(): Span | undefined {
  return getRPCMetadata(context.active())?.span ?? trace.getActiveSpan();
}

/** The domain attributes our mapping reads (docs/schema.md, "OpenTelemetry mapping"). */
function describeLink(link: Link): void {
  serverSpan()?.setAttributes({
    'link.id': link.id,
    'link.external_id': link.external_id,
    'institution.name': link.institution,
    'customer.id': link.customer_id,
  });
}

export function createOtelFinanceApi(o: { mfaInstitutions?: string[]; webhookUrl?: string } = {}) {
  const links = new Map<string, Link>([
    ['link-ok', { id: 'link-ok', institution: 'gringotts_br_retail', external_id: 'user-7', customer_id: 'acme_lending' }],
    ['link-mfa', { id: 'link-mfa', institution: 'erebor_mx_retail', external_id: 'user-8', customer_id: 'acme_lending' }],
  ]);
  const mfa = new Set(o.mfaInstitutions ?? ['erebor_mx_retail']);
  const webhookLogger = logs.getLogger('webhooks');

  /** A webhook delivery attempt, as a log record with the attributes mapped to webhook_attempts. */
  const recordWebhook = (link: Link, attempt: number, statusCode: number | undefined, error?: string) => {
    webhookLogger.emit({
      severityNumber: statusCode && statusCode < 400 ? SeverityNumber.INFO : SeverityNumber.WARN,
      body: { link_id: link.id, webhook_code: 'new_transactions_available' },
      attributes: {
        'webhook.id': `wh-${link.id}`,
        'webhook.event': 'new_transactions_available',
        'webhook.type': 'TRANSACTIONS',
        'webhook.attempt': attempt,
        'link.id': link.id,
        'customer.id': link.customer_id,
        'url.full': o.webhookUrl ?? 'https://hooks.example/acme',
        ...(statusCode ? { 'http.response.status_code': statusCode } : {}),
        ...(error ? { 'error.type': error } : {}),
      },
    });
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  const linkOf = (req: Request): Link => {
    const link = links.get(String(req.params.link_id));
    if (!link) throw new HttpError(404, 'not_found', 'The link does not exist');
    describeLink(link);
    return link;
  };
  app.get('/api/links/:link_id/accounts', (req, res) => {
    const link = linkOf(req);
    if (mfa.has(link.institution)) throw new HttpError(428, 'token_required', 'A MFA token is required by the institution to login');
    res.json([{ id: randomBytes(4).toString('hex'), balance: 5230.12 }]);
  });
  app.post('/api/links/:link_id/transactions', (req, res) => {
    const link = linkOf(req);
    // two delivery attempts: a timeout, then a 200
    recordWebhook(link, 1, undefined, 'timeout');
    recordWebhook(link, 2, 200);
    res.status(201).json({ new_transactions: 1 });
  });
  app.get('/api/owners/:owner_id', () => {
    throw new Error('owners store unreachable');
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err instanceof HttpError ? err : new HttpError(500, 'unexpected_error', 'An unexpected error occurred on our side');
    const span = serverSpan();
    // error.type names the error class (semantic conventions); our mapping makes it error.code
    span?.setAttributes({ 'error.type': e.code, 'error.message': e.message });
    if (e.status >= 500) {
      if (err instanceof Error) span?.recordException(err);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
    }
    res.status(e.status).json({ code: e.code, message: e.message });
  });
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.env.PORT ?? 3002);
  const server = createOtelFinanceApi().listen(port, '127.0.0.1', () => console.log(`otel example API on http://127.0.0.1:${server.address() && typeof server.address() === 'object' ? (server.address() as { port: number }).port : port}`));
  const stop = () => {
    server.close();
    const flush = (globalThis as { shutdownTelemetry?: () => Promise<void> }).shutdownTelemetry;
    void (flush ? flush() : Promise.resolve()).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
