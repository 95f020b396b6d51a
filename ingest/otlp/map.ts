import { nsToMs, SpanKind, type AttrValue, type OtlpItems, type OtlpLogRecord, type OtlpSpan } from './model.js';

/**
 * Spans and log records -> records of our kinds, by span kind and attributes (README "Send
 * OpenTelemetry data", docs/schema.md "OpenTelemetry mapping"). The records are unvalidated: they go
 * through the same validation and stages as a JSON batch, so a span that should map but cannot
 * (no status code, a time out of range) is rejected there with the schema's own message.
 *
 * Attribute names follow the OpenTelemetry HTTP semantic conventions (semantic-conventions
 * docs/http/http-spans.md), with the older names the pre-1.23 instrumentations still send.
 */

/** Our fields read from domain attributes, and where from by default (OTLP_ATTRIBUTES remaps them). */
export const defaultAttributeMap = {
  link_id: 'link.id',
  external_id: 'link.external_id',
  institution: 'institution.name',
  customer_id: 'customer.id',
  error_code: 'error.type',
  error_message: 'error.message',
} as const;
export type MappedField = keyof typeof defaultAttributeMap;
export type AttributeMap = Record<MappedField, string>;

export interface MappingOptions {
  attributes: AttributeMap;
  /** The attribute holding request_id; the span id when unset or absent. */
  requestIdAttribute?: string;
}

/** Kinds an OTLP item can become. */
export type TargetKind = 'logs' | 'webhook-attempts';

/** Item labels for the /metrics counter: a span by its kind, or a log record. */
export type ItemLabel = 'server_span' | 'client_span' | 'internal_span' | 'producer_span' | 'consumer_span' | 'unspecified_span' | 'log_record';
const spanLabels: Record<number, ItemLabel> = {
  [SpanKind.UNSPECIFIED]: 'unspecified_span',
  [SpanKind.INTERNAL]: 'internal_span',
  [SpanKind.SERVER]: 'server_span',
  [SpanKind.CLIENT]: 'client_span',
  [SpanKind.PRODUCER]: 'producer_span',
  [SpanKind.CONSUMER]: 'consumer_span',
};

export interface MappedBatch {
  records: Record<string, unknown>[];
  /** per record: the item it came from and its index in the export (originOf names it) */
  items: Item[];
  indexes: number[];
  labels: ItemLabel[];
}
export interface MappedExport {
  byKind: Partial<Record<TargetKind, MappedBatch>>;
  /** items accepted and ignored by design, by label */
  ignored: Partial<Record<ItemLabel, number>>;
  total: number;
}

type Item = OtlpSpan | OtlpLogRecord;
/** An item's attribute, else its resource's (customer.id, say, may be set once per service). */
const lookup = (item: Item, key: string): AttrValue | undefined => item.attributes[key] ?? item.resource[key] ?? undefined;

function text(v: AttrValue | undefined): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}
function num(v: AttrValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return undefined;
}
const clip = (s: string | undefined, max: number) => (s === undefined || s.length <= max ? s : s.slice(0, max));
const durationMs = (s: OtlpSpan) => Math.round(Number(s.endNs - s.startNs) / 1000) / 1000;

/** Path segments that are ids, not routes: numbers, UUIDs, long hex or mixed tokens. */
const ID_SEGMENT = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|(?=[^/]*\d)[\w-]{16,})$/i;
/** Only for a span without http.route: the path without query, its id-like segments as ':id', so ids never become endpoints. */
export function normalisedPath(path: string): string {
  const bare = path.split(/[?#]/)[0]!;
  return bare
    .split('/')
    .map((seg) => (ID_SEGMENT.test(seg) ? ':id' : seg))
    .join('/');
}

const exceptionEvent = (s: OtlpSpan) => s.events.find((e) => e.name === 'exception');

function domainFields(item: Item, o: MappingOptions) {
  return {
    link_id: text(lookup(item, o.attributes.link_id)),
    external_id: text(lookup(item, o.attributes.external_id)),
    customer_id: text(lookup(item, o.attributes.customer_id)),
  };
}

/** A SERVER span: one API call. For 4xx the conventions leave the span status unset: errors come from the status code. */
function requestLog(s: OtlpSpan, o: MappingOptions): Record<string, unknown> {
  const statusCode = num(lookup(s, 'http.response.status_code') ?? lookup(s, 'http.status_code'));
  const route = text(s.attributes['http.route']);
  const path = text(s.attributes['url.path'] ?? s.attributes['http.target']);
  const exception = exceptionEvent(s);
  const errorCode = text(lookup(s, o.attributes.error_code)) ?? text(exception?.attributes['exception.type']);
  const errorMessage = text(lookup(s, o.attributes.error_message)) ?? (s.status.message || undefined) ?? text(exception?.attributes['exception.message']);
  const isError = statusCode !== undefined && statusCode >= 400;
  return {
    request_id: (o.requestIdAttribute && text(lookup(s, o.requestIdAttribute))) || s.spanId || undefined,
    timestamp: nsToMs(s.startNs),
    method: text(lookup(s, 'http.request.method') ?? lookup(s, 'http.method'))?.toUpperCase(),
    endpoint: route ?? (path !== undefined ? normalisedPath(path) : undefined),
    status_code: statusCode,
    duration_ms: durationMs(s),
    ...domainFields(s, o),
    institution: text(lookup(s, o.attributes.institution)),
    source: text(s.resource['service.name']),
    ...(isError && (errorCode || errorMessage)
      ? { error: { code: clip(errorCode ?? String(statusCode), 128), message: clip(errorMessage ?? '', 4096) } }
      : {}),
  };
}

/** A webhook delivery attempt, from a log record or a CLIENT span carrying webhook.id. */
function webhookAttempt(item: Item, o: MappingOptions): Record<string, unknown> {
  const isSpan = 'kind' in item;
  const status = num(lookup(item, 'http.response.status_code') ?? lookup(item, 'http.status_code'));
  const error = text(lookup(item, o.attributes.error_message)) ?? text(lookup(item, o.attributes.error_code)) ?? (isSpan ? item.status.message || undefined : undefined);
  let payload: unknown;
  if (!isSpan && item.body !== undefined) {
    if (item.body !== null && typeof item.body === 'object' && !Array.isArray(item.body)) payload = item.body;
    else if (typeof item.body === 'string' && item.body.startsWith('{')) {
      try {
        payload = JSON.parse(item.body);
      } catch {
        // a plain message, not a payload
      }
    }
  }
  return {
    webhook_id: text(lookup(item, 'webhook.id')),
    event: text(lookup(item, 'webhook.event')),
    type: text(lookup(item, 'webhook.type')),
    attempt: num(lookup(item, 'webhook.attempt')),
    url: text(lookup(item, 'url.full')),
    status_code: status ?? null,
    timestamp: isSpan ? nsToMs(item.startNs) : nsToMs(item.timeNs || item.observedNs),
    ...domainFields(item, o),
    ...(error ? { error: clip(error, 1024) } : {}),
    ...(isSpan ? { duration_ms: durationMs(item) } : {}),
    ...(payload !== undefined ? { payload } : {}),
  };
}

/** What a batch's record `i` came from, for partial_success messages ("span 5f2e... 'GET /links/:id'"): only a rejected record is named. */
export function originOf(batch: MappedBatch, i: number): string {
  const item = batch.items[i]!;
  const index = batch.indexes[i]!;
  if ('kind' in item) return `span ${item.spanId || `#${index}`} '${item.name}'`;
  return `log record #${index}${item.spanId ? ` (span ${item.spanId})` : ''}`;
}

/** Which kind an item becomes, if any. */
function targetOf(item: Item): TargetKind | undefined {
  const hasWebhook = lookup(item, 'webhook.id') !== undefined;
  if (!('kind' in item)) return hasWebhook ? 'webhook-attempts' : undefined;
  const hasMethod = item.attributes['http.request.method'] !== undefined || item.attributes['http.method'] !== undefined;
  if (item.kind === SpanKind.SERVER && hasMethod) return 'logs';
  if (item.kind === SpanKind.CLIENT && hasWebhook) return 'webhook-attempts';
  return undefined;
}

/**
 * The record without its undefined fields: what JSON.parse would give for it, so the records go
 * to validation as they are (ingest/prepare.ts prepareRecords) with no JSON text in between.
 */
function definedOnly(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in record) if (record[key] !== undefined) out[key] = record[key];
  return out;
}

export function mapExport(exported: OtlpItems, o: MappingOptions): MappedExport {
  const out: MappedExport = { byKind: {}, ignored: {}, total: exported.items.length };
  exported.items.forEach((item: Item, index) => {
    const label: ItemLabel = 'kind' in item ? (spanLabels[item.kind] ?? 'unspecified_span') : 'log_record';
    const target = targetOf(item);
    if (!target) {
      out.ignored[label] = (out.ignored[label] ?? 0) + 1;
      return;
    }
    const batch = (out.byKind[target] ??= { records: [], items: [], indexes: [], labels: [] });
    batch.records.push(definedOnly(target === 'logs' ? requestLog(item as OtlpSpan, o) : webhookAttempt(item, o)));
    batch.items.push(item);
    batch.indexes.push(index);
    batch.labels.push(label);
  });
  return out;
}
