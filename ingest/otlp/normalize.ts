import type { AttrValue, Attributes, OtlpItems, OtlpLogRecord, OtlpSpan, Signal } from './model.js';

/**
 * From a decoded export request (OTLP JSON as parsed, or the protobufjs message decoded from the
 * binary: both use the proto's lowerCamelCase field names) to the receiver's model.
 *
 * OTLP JSON deviates from proto3's canonical JSON (opentelemetry-proto docs/specification.md,
 * "JSON Protobuf Encoding"): trace and span ids are case-insensitive hex, not base64; enums are
 * integers; 64-bit integers are decimal strings or numbers; unknown fields are ignored.
 * Protobuf gives ids as bytes and 64-bit integers as Longs; its unset fields read as defaults.
 */
export class DecodeError extends Error {}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

function obj(v: unknown, path: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new DecodeError(`${path} must be an object`);
  return v;
}
function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`${path} must be an array`);
  return v;
}
function str(v: unknown, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new DecodeError(`${path} must be a string`);
  return v;
}
/** int32/uint32 and enums: OTLP JSON encodes enums as integers only. */
function int(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new DecodeError(`${path} must be an integer (OTLP JSON encodes enums as integers)`);
}
/** protobufjs' 64-bit integers (long.js), as decoded: toObject would turn them into strings at a cost. */
const isLong = (v: unknown): v is { low: number; high: number; toString(): string } => typeof v === 'object' && v !== null && 'low' in v && 'high' in v;

/**
 * (fixed)64-bit integers: a decimal string or a number (JSON), a Long (protobuf). A number past 2^53 (nanosecond times sent
 * as JSON numbers) was already rounded by JSON.parse: off by under a microsecond, so taken as is.
 */
function int64(v: unknown, path: string): bigint {
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return BigInt(v);
  if (isLong(v)) return BigInt(v.toString());
  throw new DecodeError(`${path} must be a 64-bit integer (a decimal string or a number)`);
}
/** Trace and span ids: bytes in protobuf, hex in OTLP JSON. */
function hexId(v: unknown, bytes: number, path: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (v instanceof Uint8Array) {
    if (v.length === 0) return '';
    if (v.length !== bytes) throw new DecodeError(`${path} must be ${bytes} bytes`);
    return Buffer.from(v).toString('hex');
  }
  if (typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(v)) return v.toLowerCase();
  throw new DecodeError(`${path} must be ${bytes * 2} hex digits (OTLP JSON ids are hex, not base64)`);
}

const MAX_VALUE_DEPTH = 16;

/** Whether an AnyValue holds `field` (a plain function, not a closure: this runs per attribute). */
function has(o: Obj, set: string | undefined, field: string): boolean {
  return set !== undefined ? set === field : o[field] !== undefined && o[field] !== null;
}

/** common.proto AnyValue: exactly one of its fields is set (none: an empty value). */
function anyValue(v: unknown, path: string, depth = 0): AttrValue {
  if (depth > MAX_VALUE_DEPTH) throw new DecodeError(`${path} is nested deeper than ${MAX_VALUE_DEPTH} levels`);
  const o = obj(v, path);
  // A decoded protobuf message names its set member in the oneof's virtual `value` (its other
  // members read as their defaults from the prototype); OTLP JSON holds only the member sent.
  const set = typeof o.value === 'string' ? o.value : undefined;
  if (has(o, set, 'stringValue')) return str(o.stringValue, `${path}.stringValue`);
  if (has(o, set, 'boolValue')) {
    if (typeof o.boolValue !== 'boolean') throw new DecodeError(`${path}.boolValue must be a boolean`);
    return o.boolValue;
  }
  if (has(o, set, 'intValue')) {
    const n = int64(o.intValue, `${path}.intValue`);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
  }
  if (has(o, set, 'doubleValue')) {
    const d = typeof o.doubleValue === 'string' ? Number(o.doubleValue) : o.doubleValue;
    if (typeof d !== 'number') throw new DecodeError(`${path}.doubleValue must be a number`);
    return Number.isFinite(d) ? d : String(d);
  }
  if (has(o, set, 'arrayValue')) {
    return list(obj(o.arrayValue, `${path}.arrayValue`).values, `${path}.arrayValue.values`).map((x, i) => anyValue(x, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if (has(o, set, 'kvlistValue')) {
    return keyValues(obj(o.kvlistValue, `${path}.kvlistValue`).values, `${path}.kvlistValue.values`, depth + 1);
  }
  if (has(o, set, 'bytesValue')) {
    return o.bytesValue instanceof Uint8Array ? Buffer.from(o.bytesValue).toString('base64') : str(o.bytesValue, `${path}.bytesValue`);
  }
  return null;
}

/** repeated KeyValue -> a plain object; a repeated key keeps its last value. */
function keyValues(v: unknown, path: string, depth = 0): Attributes {
  const out: Attributes = {};
  list(v, path).forEach((kv, i) => {
    const o = obj(kv, `${path}[${i}]`);
    out[str(o.key, `${path}[${i}].key`)] = anyValue(o.value, `${path}[${i}].value`, depth);
  });
  return out;
}

function span(s: Obj, path: string, resource: Attributes): OtlpSpan {
  const status = obj(s.status, `${path}.status`);
  return {
    traceId: hexId(s.traceId, 16, `${path}.traceId`),
    spanId: hexId(s.spanId, 8, `${path}.spanId`),
    name: str(s.name, `${path}.name`),
    kind: int(s.kind, `${path}.kind`),
    startNs: int64(s.startTimeUnixNano, `${path}.startTimeUnixNano`),
    endNs: int64(s.endTimeUnixNano, `${path}.endTimeUnixNano`),
    attributes: keyValues(s.attributes, `${path}.attributes`),
    events: list(s.events, `${path}.events`).map((e, i) => {
      const o = obj(e, `${path}.events[${i}]`);
      return {
        name: str(o.name, `${path}.events[${i}].name`),
        timeNs: int64(o.timeUnixNano, `${path}.events[${i}].timeUnixNano`),
        attributes: keyValues(o.attributes, `${path}.events[${i}].attributes`),
      };
    }),
    status: { code: int(status.code, `${path}.status.code`), message: str(status.message, `${path}.status.message`) },
    resource,
  };
}

function logRecord(r: Obj, path: string, resource: Attributes): OtlpLogRecord {
  return {
    timeNs: int64(r.timeUnixNano, `${path}.timeUnixNano`),
    observedNs: int64(r.observedTimeUnixNano, `${path}.observedTimeUnixNano`),
    severityNumber: int(r.severityNumber, `${path}.severityNumber`),
    severityText: str(r.severityText, `${path}.severityText`),
    body: r.body === undefined || r.body === null ? undefined : anyValue(r.body, `${path}.body`),
    attributes: keyValues(r.attributes, `${path}.attributes`),
    traceId: hexId(r.traceId, 16, `${path}.traceId`),
    spanId: hexId(r.spanId, 8, `${path}.spanId`),
    eventName: str(r.eventName, `${path}.eventName`),
    resource,
  };
}

/** ExportTraceServiceRequest / ExportLogsServiceRequest (collector/*\/v1/*_service.proto) -> items in order. */
export function normalizeExport(signal: Signal, message: unknown): OtlpItems {
  const root = obj(message, 'request');
  if (signal === 'traces') {
    const items: OtlpSpan[] = [];
    list(root.resourceSpans, 'resourceSpans').forEach((rs, i) => {
      const rso = obj(rs, `resourceSpans[${i}]`);
      const resource = keyValues(obj(rso.resource, `resourceSpans[${i}].resource`).attributes, `resourceSpans[${i}].resource.attributes`);
      list(rso.scopeSpans, `resourceSpans[${i}].scopeSpans`).forEach((ss, j) => {
        const path = `resourceSpans[${i}].scopeSpans[${j}]`;
        list(obj(ss, path).spans, `${path}.spans`).forEach((s, k) => items.push(span(obj(s, `${path}.spans[${k}]`), `${path}.spans[${k}]`, resource)));
      });
    });
    return { signal, items };
  }
  const items: OtlpLogRecord[] = [];
  list(root.resourceLogs, 'resourceLogs').forEach((rl, i) => {
    const rlo = obj(rl, `resourceLogs[${i}]`);
    const resource = keyValues(obj(rlo.resource, `resourceLogs[${i}].resource`).attributes, `resourceLogs[${i}].resource.attributes`);
    list(rlo.scopeLogs, `resourceLogs[${i}].scopeLogs`).forEach((sl, j) => {
      const path = `resourceLogs[${i}].scopeLogs[${j}]`;
      list(obj(sl, path).logRecords, `${path}.logRecords`).forEach((r, k) => items.push(logRecord(obj(r, `${path}.logRecords[${k}]`), `${path}.logRecords[${k}]`, resource)));
    });
  });
  return { signal, items };
}
