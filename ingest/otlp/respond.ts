import type { Response } from 'express';
import type { ApiError } from '../errors.js';
import { messages } from './proto.js';
import type { Encoding } from './decode.js';
import type { Signal } from './model.js';

/**
 * OTLP/HTTP answers (opentelemetry-proto docs/specification.md, "OTLP/HTTP Response"): the body is
 * a protobuf message in the request's encoding, with the same Content-Type. Success is 200 with an
 * Export*ServiceResponse whose partial_success is unset unless something was rejected; failures
 * are a google.rpc.Status.
 */
const contentTypes: Record<Encoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/** 200: Export{Trace,Logs}ServiceResponse, with partial_success only when items were rejected. */
export function sendExportResponse(res: Response, signal: Signal, encoding: Encoding, rejected: number, errorMessage: string): void {
  const counter = signal === 'traces' ? 'rejectedSpans' : 'rejectedLogRecords';
  res.status(200).type(contentTypes[encoding]);
  if (encoding === 'json') {
    // proto3 JSON writes int64 as a decimal string
    res.send(JSON.stringify(rejected > 0 ? { partialSuccess: { [counter]: String(rejected), errorMessage } } : {}));
    return;
  }
  const type = signal === 'traces' ? messages.traceResponse : messages.logsResponse;
  const body = rejected > 0 ? { partialSuccess: { [counter]: rejected, errorMessage } } : {};
  res.send(Buffer.from(type.encode(type.fromObject(body)).finish()));
}

/** gRPC codes for Status.code: the specification does not use it, but clients may log it (google/rpc/code.proto). */
const grpcCodes: Record<number, number> = { 400: 3, 401: 16, 404: 5, 409: 10, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14 };

const REQUEST_INFO = 'type.googleapis.com/google.rpc.RequestInfo';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';

/**
 * 4xx/5xx: a google.rpc.Status in the request's encoding (JSON when it is unknown). The request id
 * rides in a RequestInfo detail and the X-Request-Id header; a 400 adds a BadRequest detail, as the
 * specification's "Bad Data" asks. Retry-After and other headers of the error are kept.
 */
export function sendStatus(res: Response, encoding: Encoding | undefined, err: ApiError): void {
  const requestId = String(res.getHeader('X-Request-Id') ?? '');
  res.locals.errorCode = err.code; // for the error counter in ingest/metrics.ts
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  const code = grpcCodes[err.status] ?? 2;
  const violations = err.status === 400 ? [{ field: firstPath(err), description: err.message }] : [];
  res.status(err.status).type(contentTypes[encoding ?? 'json']);
  if (encoding !== 'protobuf') {
    res.send(
      JSON.stringify({
        code,
        message: err.message,
        details: [{ '@type': REQUEST_INFO, requestId }, ...(violations.length ? [{ '@type': BAD_REQUEST, fieldViolations: violations }] : [])],
      }),
    );
    return;
  }
  const any = (typeUrl: string, type: typeof messages.requestInfo, value: object) => ({ typeUrl, value: type.encode(type.fromObject(value)).finish() });
  const details = [any(REQUEST_INFO, messages.requestInfo, { requestId })];
  if (violations.length) details.push(any(BAD_REQUEST, messages.badRequest, { fieldViolations: violations }));
  res.send(Buffer.from(messages.status.encode(messages.status.fromObject({ code, message: err.message, details })).finish()));
}

function firstPath(err: ApiError): string {
  const errors = err.details.errors as { path?: string }[] | undefined;
  return errors?.[0]?.path ?? '';
}
