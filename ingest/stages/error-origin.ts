import type { errorOrigins } from '../../schema/records.js';
import { defineStage } from './stage.js';

export type ErrorOrigin = (typeof errorOrigins)[number];

/**
 * Whose fault an error code is: ours (`internal`) or the bank's (`institution`). Codes follow the
 * open-finance API's error bodies; extend or replace the table in ingest/stages.ts.
 */
export const defaultErrorOriginTable: Readonly<Record<string, ErrorOrigin>> = {
  token_required: 'institution',
  invalid_credentials: 'institution',
  login_error: 'institution',
  session_expired: 'institution',
  institution_down: 'institution',
  institution_unavailable: 'institution',
  institution_timeout: 'institution',
  institution_inactive: 'institution',
  unexpected_error: 'internal',
  request_error: 'internal',
  validation_error: 'internal',
  authentication_failed: 'internal',
  not_found: 'internal',
  too_many_sessions: 'internal',
  service_unavailable: 'internal',
};

/** The error code of a log: its `error.code`, else a `code` in its error body (object or one-element array). */
function errorCodeOf(record: { error?: { code: string }; response_body?: unknown }): string | undefined {
  if (record.error?.code) return record.error.code;
  const body = Array.isArray(record.response_body) ? record.response_body[0] : record.response_body;
  const code = body && typeof body === 'object' ? (body as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Fills `error_origin` of error logs from the table when the producer did not say. */
export function errorOriginStage(table: Readonly<Record<string, ErrorOrigin>> = defaultErrorOriginTable) {
  return defineStage('error-origin', ['logs'], (log) => {
    if (log.error_origin !== undefined || log.status_code < 400) return log;
    const code = errorCodeOf(log);
    const origin = code === undefined ? undefined : table[code];
    return origin ? { ...log, error_origin: origin } : log;
  });
}
