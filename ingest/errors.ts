import type { Response } from 'express';

export type ErrorCode =
  | 'invalid_json'
  | 'validation_error'
  | 'unauthorized'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'idempotency_conflict'
  | 'backpressure'
  | 'unavailable'
  | 'internal_error';

const statusOf: Record<ErrorCode, number> = {
  invalid_json: 400,
  validation_error: 400,
  unauthorized: 401,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_conflict: 409,
  backpressure: 429,
  unavailable: 503,
  internal_error: 500,
};
/** Every code the API may answer, in statusOf's order (the OpenAPI document lists them). */
export const errorCodes = Object.keys(statusOf) as ErrorCode[];

/** Every error the API answers has this shape: {code, message, request_id, ...details}. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = statusOf[code];
  }
}

export function sendError(res: Response, err: ApiError): void {
  const requestId = String(res.getHeader('X-Request-Id') ?? '');
  res.locals.errorCode = err.code; // for the error counter in ingest/metrics.ts
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).json({ code: err.code, message: err.message, request_id: requestId, ...err.details });
}
