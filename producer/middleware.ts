import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { RequestLogInput } from './ingest-client.js';
import type { Shipper } from './shipper.js';

type Method = RequestLogInput['method'];
const methods = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** Where the matched route left its parameters (the router resets req.params when an error leaves it). */
export interface RouteMatch {
  /** Route template, e.g. /api/links/:link_id/ */
  endpoint: string | undefined;
  params: Record<string, string>;
}

export type Extractor = (req: Request, res: Response, route: RouteMatch) => string | undefined;

export interface RequestRecorderOptions {
  /** Header carrying the caller's request id; a missing or unusable one is generated. Default X-Request-Id. */
  requestIdHeader?: string;
  /** Value of `source` (default 'api'). */
  source?: string;
  extract?: {
    link_id?: Extractor;
    external_id?: Extractor;
    institution?: Extractor;
    customer_id?: Extractor;
    /** `internal` or `institution`; leave it out to let ingest classify by error code. */
    error_origin?: (req: Request, res: Response, route: RouteMatch) => 'internal' | 'institution' | undefined;
  };
  /** Requests not worth recording, e.g. health checks. */
  skip?: (req: Request) => boolean;
  /** Endpoint recorded when no route matched (a 404): never the raw URL, which may hold ids. */
  unmatchedEndpoint?: string;
  /** Error bodies longer than this (as JSON) are cut (default 16 KiB). */
  maxErrorBodyBytes?: number;
  onError?: (message: string) => void;
}

const USABLE_ID = /^[\w.:-]{1,128}$/;
const newRequestId = () => randomUUID().replace(/-/g, '');

/** Per-request state, kept off the host's objects except for the two hooks we install. */
interface Observation {
  started: number;
  startedAt: number;
  requestId: string;
  match: RouteMatch | undefined;
  body: unknown;
  bodyCaptured: boolean;
}

/**
 * Express middleware recording every request of the host API into the shipper. It must never
 * hurt the host: everything it does is wrapped, and the host's own errors pass through untouched.
 */
export function requestRecorder(shipper: Shipper, options: RequestRecorderOptions = {}): RequestHandler {
  const header = options.requestIdHeader ?? 'X-Request-Id';
  const source = options.source ?? 'api';
  const unmatched = options.unmatchedEndpoint ?? '(unmatched)';
  const maxBody = options.maxErrorBodyBytes ?? 16_384;
  const extract = options.extract ?? {};
  const warn = (what: string, err: unknown) => {
    try {
      options.onError?.(`request recorder: ${what}: ${err instanceof Error ? err.message : String(err)}`);
    } catch {
      /* ignore */
    }
  };

  // Resolved once: the per-request path should allocate as little as possible.
  const fieldExtractors = (['link_id', 'external_id', 'institution', 'customer_id'] as const)
    .filter((name) => extract[name])
    .map((name) => [name, extract[name]!] as const);
  const noMatch: RouteMatch = { endpoint: undefined, params: {} };
  const call = <T>(name: string, fn: (req: Request, res: Response, route: RouteMatch) => T, req: Request, res: Response, route: RouteMatch): T | undefined => {
    try {
      return fn(req, res, route);
    } catch (err) {
      warn(`extractor ${name} threw`, err);
      return undefined;
    }
  };

  const finish = (req: Request, res: Response, o: Observation) => {
    try {
      const route = o.match ?? noMatch;
      // A response never finished means the client went away first: nginx's 499.
      const status = res.writableFinished ? res.statusCode : 499;
      const log: RequestLogInput = {
        request_id: o.requestId,
        timestamp: o.startedAt,
        method: (methods.has(req.method) ? req.method : 'GET') as Method,
        endpoint: route.endpoint ?? unmatched,
        status_code: status,
        duration_ms: Math.round((performance.now() - o.started) * 1000) / 1000,
        source,
      };
      for (const [name, fn] of fieldExtractors) {
        const v = call(name, fn, req, res, route);
        if (typeof v === 'string' && v !== '') log[name] = v;
      }
      if (status >= 400) {
        const origin = extract.error_origin && call('error_origin', extract.error_origin, req, res, route);
        if (origin) log.error_origin = origin;
        if (o.bodyCaptured) Object.assign(log, errorFields(o.body, maxBody));
      }
      shipper.record('logs', log);
    } catch (err) {
      warn('could not record a request', err);
    }
  };

  return function recordRequest(req: Request, res: Response, next: NextFunction) {
    let o: Observation | undefined;
    try {
      if (options.skip?.(req)) return next();
      const incoming = req.get(header);
      o = {
        started: performance.now(),
        startedAt: Date.now(),
        requestId: incoming && USABLE_ID.test(incoming) ? incoming : newRequestId(),
        match: undefined,
        body: undefined,
        bodyCaptured: false,
      };
      const obs = o;
      res.setHeader(header, obs.requestId);
      watchRoute(req, obs);
      captureErrorBody(res, obs);
      res.once('close', () => finish(req, res, obs));
    } catch (err) {
      warn('could not observe a request', err);
    }
    next();
  };
}

/**
 * The router sets req.route when it dispatches to a route; at that moment req.baseUrl and
 * req.params are the route's own. Reading them later is wrong when an error left the router
 * (they are reset), so they are copied when req.route is assigned.
 */
function watchRoute(req: Request, o: Observation) {
  let route: unknown;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      try {
        if (value && value.path !== undefined) {
          // The router builds a fresh params object per matched layer: keeping the reference is safe.
          o.match = { endpoint: `${req.baseUrl ?? ''}${String(value.path)}`, params: req.params as Record<string, string> };
        }
      } catch {
        /* never into the host */
      }
    },
  });
}

/**
 * Keeps a reference to what the host sends when the status is an error, through the first of
 * res.json / res.send / res.end it calls (json calls send, send calls end: the first one has the
 * richest form). The originals always run, with the host's arguments, whatever happens here.
 */
function captureErrorBody(res: Response, o: Observation) {
  const capture = (body: unknown) => {
    if (!o.bodyCaptured && res.statusCode >= 400) {
      o.body = body;
      o.bodyCaptured = true;
    }
  };
  const { json, send, end } = res;
  res.json = function (this: Response, body?: unknown) {
    capture(body);
    return json.call(this, body);
  };
  res.send = function (this: Response, body?: unknown) {
    capture(body);
    return send.call(this, body);
  };
  res.end = function (this: Response, ...args: unknown[]) {
    const chunk = args[0];
    if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) capture(chunk);
    return (end as (...a: unknown[]) => Response).apply(this, args);
  } as Response['end'];
}

/** The error body as ingest wants it: the body itself, plus `error {code, message}` when it has them. */
function errorFields(raw: unknown, maxBytes: number): Pick<RequestLogInput, 'response_body' | 'error'> {
  let body = raw;
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* plain text stays text */
    }
  }
  const json = JSON.stringify(body);
  if (json === undefined) return {};
  const out: Pick<RequestLogInput, 'response_body' | 'error'> = {
    response_body: json.length > maxBytes ? `${json.slice(0, maxBytes)}…(truncated)` : body,
  };
  const first = Array.isArray(body) ? body[0] : body;
  if (first && typeof first === 'object') {
    const { code, message } = first as { code?: unknown; message?: unknown };
    if (typeof code === 'string') out.error = { code: code.slice(0, 128), message: typeof message === 'string' ? message.slice(0, 4096) : '' };
  }
  return out;
}
