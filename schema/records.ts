import { z } from 'zod';
import { rowMapping, type Cell, type RowMapping } from './row-mapping.js';

/**
 * The one definition of what producers may send. Types, ClickHouse row mapping, the OpenAPI
 * document and the column check in the tests all derive from these schemas.
 * Unknown fields are dropped (zod's default `strip`), so producers can send extra context safely.
 */

const EARLIEST_MS = Date.UTC(2000, 0, 1);
const MAX_FUTURE_MS = 24 * 3600 * 1000;

/**
 * RFC 3339 with an offset, or epoch milliseconds; normalised to epoch ms. Numbers first and one
 * transform that also checks the range: this runs for every record (a union's failed branch and a
 * separate refine step each cost more than the rest of the field).
 */
const TIMESTAMP_RANGE = 'timestamp must be between 2000-01-01 and 24 hours from now';
const timestamp = z
  .union([z.number().int(), z.iso.datetime({ offset: true })])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : Date.parse(v);
    if (!(ms >= EARLIEST_MS && ms <= Date.now() + MAX_FUTURE_MS)) ctx.issues.push({ code: 'custom', message: TIMESTAMP_RANGE, input: v });
    return ms;
  })
  .meta({ description: 'RFC 3339 date-time with offset, or epoch milliseconds' });

const id = (max = 128) => z.string().min(1).max(max);

/**
 * Nesting depth of a JSON value (a scalar is 0), counted up to `limit + 1`: the caller only needs to
 * know whether it is over the limit, and stopping there bounds the recursion, so hostile input
 * cannot blow the stack. No allocation per node: this runs on every payload and error body.
 */
export function jsonDepth(value: unknown, limit: number = jsonLimits.maxDepth): number {
  if (value === null || typeof value !== 'object') return 0;
  if (limit < 0) return 1;
  let max = 0;
  if (Array.isArray(value)) {
    for (const child of value) {
      const d = jsonDepth(child, limit - 1);
      if (d > max) max = d;
      if (max > limit) break;
    }
  } else {
    for (const key in value) {
      const d = jsonDepth((value as Record<string, unknown>)[key], limit - 1);
      if (d > max) max = d;
      if (max > limit) break;
    }
  }
  return max + 1;
}

/** Free-form JSON (error bodies, webhook payloads) with bounded depth and size. */
export const jsonLimits = { maxDepth: 16, responseBodyBytes: 64 * 1024, payloadBytes: 256 * 1024 } as const;
/**
 * JSON text of a free-form value, computed once per object: when the size check had to build it
 * (see jsonIssue), the row mapping reuses it for the same (validated, then unchanged) object.
 */
const jsonTextOf = new WeakMap<object, string>();
function jsonText(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? '';
  return jsonTextOf.get(v) ?? JSON.stringify(v);
}
/** jsonText, remembered for the row mapping. */
function jsonTextKept(v: unknown): string {
  if (v === null || typeof v !== 'object') return jsonText(v);
  let text = jsonTextOf.get(v);
  if (text === undefined) {
    text = JSON.stringify(v);
    jsonTextOf.set(v, text);
  }
  return text;
}
/**
 * An upper bound of the UTF-8 bytes of JSON.stringify(v), in the walk jsonDepth would do; Infinity
 * when v nests more than `depthLeft` containers or holds anything but plain JSON data (whose text
 * JSON.stringify may shape: toJSON, a class, BigInt...). A UTF-16 unit is at most 6 bytes of JSON
 * ('\u001f', a lone surrogate), a finite number at most 25 characters.
 */
function jsonSizeBound(v: unknown, depthLeft: number): number {
  switch (typeof v) {
    case 'string':
      return 6 * v.length + 2;
    case 'number':
      return 25;
    case 'boolean':
      return 5;
    case 'undefined':
      return 4; // 'null' in an array, nothing in an object
    case 'object':
      break;
    default:
      return Infinity;
  }
  if (v === null) return 4;
  if (depthLeft === 0 || typeof (v as { toJSON?: unknown }).toJSON === 'function') return Infinity;
  let size = 2; // the brackets
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && size !== Infinity; i++) size += jsonSizeBound(v[i], depthLeft - 1) + 1;
    return size;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return Infinity;
  const o = v as Record<string, unknown>;
  for (const key in o) {
    size += 6 * key.length + 4 + jsonSizeBound(o[key], depthLeft - 1); // quotes, ':' and ','
    if (size === Infinity) break;
  }
  return size;
}
function jsonIssue(v: unknown, maxBytes: number): string | null {
  // the common case, small and shallow, without building the text; the row mapping builds it once
  if (jsonSizeBound(v, jsonLimits.maxDepth) <= maxBytes) return null;
  if (jsonDepth(v) > jsonLimits.maxDepth) return `nested deeper than ${jsonLimits.maxDepth} levels`;
  if (Buffer.byteLength(jsonTextKept(v)) > maxBytes) return `larger than ${maxBytes} bytes as JSON`;
  return null;
}
const boundedJson = <T extends z.ZodType>(schema: T, maxBytes: number) =>
  schema.superRefine((v, ctx) => {
    const issue = jsonIssue(v, maxBytes);
    if (issue) ctx.addIssue({ code: 'custom', message: issue });
  });
const optionalText = (max: number) => z.string().max(max).optional();
const durationMs = z.number().min(0).max(86_400_000).optional();

export const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
export const linkStatuses = ['valid', 'invalid', 'unconfirmed', 'token_required'] as const;
export const accessModes = ['recurrent', 'single'] as const;
export const errorOrigins = ['internal', 'institution'] as const;

export const requestLogSchema = z.object({
  request_id: id(),
  timestamp,
  method: z.enum(httpMethods),
  endpoint: id(512).meta({ description: 'Route template, e.g. /api/transactions/' }),
  status_code: z.number().int().min(100).max(599),
  duration_ms: durationMs,
  link_id: optionalText(128),
  external_id: optionalText(256),
  institution: optionalText(128),
  source: z.string().min(1).max(64).default('api'),
  customer_id: optionalText(128),
  error: z.object({ code: z.string().max(128), message: z.string().max(4096) }).optional(),
  error_origin: z.enum(errorOrigins).optional(),
  response_body: z
    .unknown()
    .optional()
    .meta({ description: `Kept only when status_code >= 400; then at most ${jsonLimits.responseBodyBytes} bytes and ${jsonLimits.maxDepth} levels deep` }),
}).superRefine((r, ctx) => {
  // a successful body is dropped unread, so only an error body is held to the limits
  if (r.status_code < 400 || r.response_body === undefined) return;
  const issue = jsonIssue(r.response_body, jsonLimits.responseBodyBytes);
  if (issue) ctx.addIssue({ code: 'custom', path: ['response_body'], message: issue });
});

export const webhookAttemptSchema = z.object({
  webhook_id: id(),
  event: id(128).meta({ description: 'e.g. new_transactions_available' }),
  type: id(64).meta({ description: 'Resource, e.g. TRANSACTIONS' }),
  link_id: id(),
  attempt: z.number().int().min(1).max(1000),
  url: z.string().min(1).max(2048),
  status_code: z.number().int().min(100).max(599).nullable().meta({ description: 'null when no response arrived' }),
  timestamp,
  external_id: optionalText(256),
  error: optionalText(1024).meta({ description: 'e.g. timeout' }),
  duration_ms: durationMs,
  payload: boundedJson(z.record(z.string(), z.unknown()), jsonLimits.payloadBytes)
    .optional()
    .meta({ description: `At most ${jsonLimits.payloadBytes} bytes and ${jsonLimits.maxDepth} levels deep` }),
  customer_id: optionalText(128),
});

export const linkStateSchema = z.object({
  link_id: id(),
  status: z.enum(linkStatuses),
  access_mode: z.enum(accessModes),
  institution: id(128),
  created_at: timestamp,
  updated_at: timestamp.meta({ description: 'The newest updated_at wins' }),
  external_id: optionalText(256),
  customer_id: optionalText(128),
});

export type RequestLog = z.infer<typeof requestLogSchema>;
export type WebhookAttempt = z.infer<typeof webhookAttemptSchema>;
export type LinkState = z.infer<typeof linkStateSchema>;

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const DAY_MS = 86_400_000;
/** The date part of the last day formatted: a batch's records mostly share their day. */
let lastDay = NaN;
let lastDayText = '';
/** ClickHouse DateTime64(3) text in UTC, 'YYYY-MM-DD hh:mm:ss.sss', of integer epoch milliseconds (what the schemas produce). */
export function chTime(ms: number): string {
  // This runs for every record on ingest's hot path: the date part comes from a one-day cache and
  // the time of day is plain arithmetic, with no Date object (a third of the CPU of the Date way).
  const day = Math.floor(ms / DAY_MS);
  if (day !== lastDay) {
    const d = new Date(day * DAY_MS);
    lastDayText = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} `;
    lastDay = day;
  }
  let rest = ms - day * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  const milli = rest - s * 1000;
  return `${lastDayText}${pad2(h)}:${pad2(m)}:${pad2(s)}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}`;
}

const json = (v: unknown) => (v === undefined ? '' : jsonText(v));

/**
 * Row shapes: the columns of the raw tables, in insert order, and how each is computed from a
 * validated record (batch_id and ingested_at are added by the pipeline).
 */
export const requestLogMapping = rowMapping<RequestLog>()({
  request_id: (r) => r.request_id,
  timestamp: (r) => chTime(r.timestamp),
  method: (r) => r.method,
  endpoint: (r) => r.endpoint,
  status_code: (r) => r.status_code,
  duration_ms: (r) => r.duration_ms ?? null,
  link_id: (r) => r.link_id ?? '',
  external_id: (r) => r.external_id ?? '',
  institution: (r) => r.institution ?? '',
  source: (r) => r.source,
  customer_id: (r) => r.customer_id ?? '',
  error_code: (r) => r.error?.code ?? '',
  error_message: (r) => r.error?.message ?? '',
  error_origin: (r) => r.error_origin ?? '',
  // Successful bodies may hold end users' financial data: never queued, never stored.
  response_body: (r) => (r.status_code >= 400 ? json(r.response_body) : ''),
});

export const webhookAttemptMapping = rowMapping<WebhookAttempt>()({
  webhook_id: (w) => w.webhook_id,
  event: (w) => w.event,
  type: (w) => w.type,
  link_id: (w) => w.link_id,
  attempt: (w) => w.attempt,
  url: (w) => w.url,
  status_code: (w) => w.status_code,
  timestamp: (w) => chTime(w.timestamp),
  external_id: (w) => w.external_id ?? '',
  error: (w) => w.error ?? '',
  duration_ms: (w) => w.duration_ms ?? null,
  payload: (w) => json(w.payload),
  customer_id: (w) => w.customer_id ?? '',
});

export const linkStateMapping = rowMapping<LinkState>()({
  link_id: (l) => l.link_id,
  status: (l) => l.status,
  access_mode: (l) => l.access_mode,
  institution: (l) => l.institution,
  created_at: (l) => chTime(l.created_at),
  updated_at: (l) => chTime(l.updated_at),
  external_id: (l) => l.external_id ?? '',
  customer_id: (l) => l.customer_id ?? '',
});

export const requestLogRow = requestLogMapping.toRow;
export const webhookAttemptRow = webhookAttemptMapping.toRow;
export const linkStateRow = linkStateMapping.toRow;

/**
 * What one record kind is, everywhere: its ingest endpoint, OpenAPI title, schema, row mapping,
 * raw table (with its time column and, in cluster mode, its sharding key) and an example record.
 * Every per-kind list in the code is mapped from recordKinds, so a new kind is its entry here, its
 * migration in sql/ and its docs (CONTRIBUTING.md, "How to add a record kind").
 */
export interface RecordKindSpec<S extends z.ZodType, Table extends string, R extends Row> {
  /** the ingest route (POST) */
  path: `/v1/${string}`;
  /** the schema's name in the OpenAPI document */
  title: string;
  schema: S;
  mapping: RowMapping<z.output<S>, R>;
  /** the raw table the worker inserts into (sql/) */
  table: Table;
  /** the raw table's event-time column: crash repair's and the TTL's time */
  timeColumn: NoInfer<keyof R & string>;
  /**
   * Cluster mode: the Distributed table's sharding expression. Deterministic (a retried insert
   * must split into the same per-shard blocks) and by link where there is one, so a link's rows
   * share a shard (docs/scaling.md).
   */
  shardingKey: string;
  /** A valid record with most fields set: the tests' seed for this kind. */
  example: z.input<S>;
}

const recordKind = <S extends z.ZodType, const Table extends string, R extends Row>(spec: RecordKindSpec<S, Table, R>) => spec;

const EXAMPLE_MS = 1_763_600_000_000; // 2025-11-20T01:33:20Z

/** Each ingest endpoint and everything derived from it (see RecordKindSpec). */
export const recordKinds = {
  logs: recordKind({
    path: '/v1/logs',
    title: 'RequestLog',
    schema: requestLogSchema,
    mapping: requestLogMapping,
    table: 'request_logs',
    timeColumn: 'timestamp',
    shardingKey: "cityHash64(if(link_id = '', request_id, link_id))",
    example: {
      request_id: 'req-1', timestamp: '2026-02-28T23:59:59.5+01:00', method: 'POST', endpoint: '/api/links/', status_code: 502, duration_ms: 12.5,
      link_id: 'link-1', institution: 'erebor_mx_retail', customer_id: 'acme', error: { code: 'institution_down', message: 'timeout' },
      error_origin: 'institution', response_body: { detail: 'x' },
    },
  }),
  'webhook-attempts': recordKind({
    path: '/v1/webhook-attempts',
    title: 'WebhookAttempt',
    schema: webhookAttemptSchema,
    mapping: webhookAttemptMapping,
    table: 'webhook_attempts',
    timeColumn: 'timestamp',
    shardingKey: "cityHash64(if(link_id = '', webhook_id, link_id))",
    example: {
      webhook_id: 'wh-1', event: 'new_transactions_available', type: 'TRANSACTIONS', link_id: 'link-1', attempt: 2, url: 'https://acme.example/hooks',
      status_code: 200, timestamp: EXAMPLE_MS + 1, duration_ms: 80, payload: { a: [1, 'ñ'] }, customer_id: 'acme',
    },
  }),
  links: recordKind({
    path: '/v1/links',
    title: 'LinkState',
    schema: linkStateSchema,
    mapping: linkStateMapping,
    table: 'links',
    timeColumn: 'updated_at',
    shardingKey: 'cityHash64(link_id)',
    example: {
      link_id: 'link-1', status: 'invalid', access_mode: 'recurrent', institution: 'erebor_mx_retail', created_at: EXAMPLE_MS,
      updated_at: '2026-01-01T00:00:00Z', customer_id: 'acme',
    },
  }),
} as const;

export type RecordKind = keyof typeof recordKinds;
export type Row = Record<string, Cell>;
export const kindNames = Object.keys(recordKinds) as RecordKind[];
/** What a producer sends for each kind (the schema's input) and what ingest keeps (its output). */
export type InputOf = { [K in RecordKind]: z.input<(typeof recordKinds)[K]['schema']> };
export type RecordOf = { [K in RecordKind]: z.output<(typeof recordKinds)[K]['schema']> };
/** The raw tables, one per kind. */
export type RawTable = (typeof recordKinds)[RecordKind]['table'];
/** Columns the pipeline adds to every raw row. */
export const pipelineColumns = ['batch_id', 'ingested_at'] as const;
