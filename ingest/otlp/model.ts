/**
 * The parts of an OTLP export this receiver reads, the same whichever encoding it came in
 * (protobuf or OTLP JSON). Field meanings follow opentelemetry-proto's
 * opentelemetry/proto/trace/v1/trace.proto, logs/v1/logs.proto and common/v1/common.proto.
 */

/** An attribute value (common.proto AnyValue): 64-bit ints become numbers when exact, else decimal strings; bytes base64. */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };
export type Attributes = Record<string, AttrValue>;

/** trace.proto Span.SpanKind */
export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
/** trace.proto Status.StatusCode */
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export interface OtlpSpan {
  /** lower-case hex; '' when absent */
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  events: { name: string; timeNs: bigint; attributes: Attributes }[];
  status: { code: number; message: string };
  /** the enclosing ResourceSpans' resource attributes (shared by its spans) */
  resource: Attributes;
}

export interface OtlpLogRecord {
  timeNs: bigint;
  observedNs: bigint;
  severityNumber: number;
  severityText: string;
  body: AttrValue | undefined;
  attributes: Attributes;
  traceId: string;
  spanId: string;
  eventName: string;
  resource: Attributes;
}

export type Signal = 'traces' | 'logs';
export type OtlpItems = { signal: 'traces'; items: OtlpSpan[] } | { signal: 'logs'; items: OtlpLogRecord[] };

/** Epoch milliseconds of a nanosecond time, truncated (the record schemas take integer ms). */
export const nsToMs = (ns: bigint): number => Number(ns / 1_000_000n);
