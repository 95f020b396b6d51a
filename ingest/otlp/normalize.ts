import type { AttrValue, Attributes, OtlpItems, OtlpLogRecord, OtlpSpan, Signal } from './model.js';

/**
 * From a decoded export request (OTLP JSON as parsed, or the message proto-decode.ts reads from the
 * binary: both use the proto's lowerCamelCase field names) to the receiver's model.
 *
 * OTLP JSON deviates from proto3's canonical JSON (opentelemetry-proto docs/specification.md,
 * "JSON Protobuf Encoding"): trace and span ids are case-insensitive hex, not base64; enums are
 * integers; 64-bit integers are decimal strings or numbers; unknown fields are ignored.
 * Protobuf gives ids as bytes and 64-bit integers as their two halves; its unset fields are absent.
 */
export class DecodeError extends Error {}

/**
 * Field paths ("resourceSpans[0].scopeSpans[0].spans[3].traceId") exist for error messages only. A
 * first pass builds none (`at` and `item` give ''): a string per field read was most of the
 * normalising CPU. An export that fails is normalised again with them, to the same first error.
 */
let tracking = false;
const at = (path: string, key: string): string => (tracking ? path + key : '');
const item = (path: string, i: number): string => (tracking ? `${path}[${i}]` : '');

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
/** A 64-bit integer as its two 32-bit halves (proto-decode.ts; protobufjs' Longs have the same fields). */
const isLong = (v: unknown): v is { low: number; high: number; unsigned?: boolean } => typeof v === 'object' && v !== null && 'low' in v && 'high' in v;

/**
 * (fixed)64-bit integers: a decimal string or a number (JSON), two halves (protobuf). A number past 2^53 (nanosecond times sent
 * as JSON numbers) was already rounded by JSON.parse: off by under a microsecond, so taken as is.
 */
function int64(v: unknown, path: string): bigint {
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return BigInt(v);
  if (isLong(v)) {
    // from the two 32-bit halves: no decimal digits made on the way
    const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
    return v.unsigned ? bits : BigInt.asIntN(64, bits);
  }
  throw new DecodeError(`${path} must be a 64-bit integer (a decimal string or a number)`);
}
/** Decoded bytes as a Buffer over the same memory (proto-decode.ts gives Buffers; anything else is wrapped, not copied). */
const bytesOf = (v: Uint8Array): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

/** Trace and span ids: bytes in protobuf, hex in OTLP JSON. */
function hexId(v: unknown, bytes: number, path: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (v instanceof Uint8Array) {
    if (v.length === 0) return '';
    if (v.length !== bytes) throw new DecodeError(`${path} must be ${bytes} bytes`);
    return bytesOf(v).toString('hex');
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
  // A decoded protobuf message names its set member in `value` (protobufjs' virtual oneof field,
  // whose other members read as prototype defaults; proto-decode.ts alike); OTLP JSON holds only the member sent.
  const set = typeof o.value === 'string' ? o.value : undefined;
  if (has(o, set, 'stringValue')) return str(o.stringValue, at(path, '.stringValue'));
  if (has(o, set, 'boolValue')) {
    if (typeof o.boolValue !== 'boolean') throw new DecodeError(`${path}.boolValue must be a boolean`);
    return o.boolValue;
  }
  if (has(o, set, 'intValue')) {
    const n = int64(o.intValue, at(path, '.intValue'));
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
  }
  if (has(o, set, 'doubleValue')) {
    const d = typeof o.doubleValue === 'string' ? Number(o.doubleValue) : o.doubleValue;
    if (typeof d !== 'number') throw new DecodeError(`${path}.doubleValue must be a number`);
    return Number.isFinite(d) ? d : String(d);
  }
  if (has(o, set, 'arrayValue')) {
    const values = at(path, '.arrayValue.values');
    return list(obj(o.arrayValue, at(path, '.arrayValue')).values, values).map((x, i) => anyValue(x, item(values, i), depth + 1));
  }
  if (has(o, set, 'kvlistValue')) {
    return keyValues(obj(o.kvlistValue, at(path, '.kvlistValue')).values, at(path, '.kvlistValue.values'), depth + 1);
  }
  if (has(o, set, 'bytesValue')) {
    return o.bytesValue instanceof Uint8Array ? bytesOf(o.bytesValue).toString('base64') : str(o.bytesValue, at(path, '.bytesValue'));
  }
  return null;
}

/** repeated KeyValue -> a plain object; a repeated key keeps its last value. */
function keyValues(v: unknown, path: string, depth = 0): Attributes {
  const out: Attributes = {};
  list(v, path).forEach((kv, i) => {
    const here = item(path, i);
    const o = obj(kv, here);
    out[str(o.key, at(here, '.key'))] = anyValue(o.value, at(here, '.value'), depth);
  });
  return out;
}

function span(s: Obj, path: string, resource: Attributes): OtlpSpan {
  const status = obj(s.status, at(path, '.status'));
  return {
    traceId: hexId(s.traceId, 16, at(path, '.traceId')),
    spanId: hexId(s.spanId, 8, at(path, '.spanId')),
    name: str(s.name, at(path, '.name')),
    kind: int(s.kind, at(path, '.kind')),
    startNs: int64(s.startTimeUnixNano, at(path, '.startTimeUnixNano')),
    endNs: int64(s.endTimeUnixNano, at(path, '.endTimeUnixNano')),
    attributes: keyValues(s.attributes, at(path, '.attributes')),
    events: list(s.events, at(path, '.events')).map((e, i) => {
      const here = item(at(path, '.events'), i);
      const o = obj(e, here);
      return {
        name: str(o.name, at(here, '.name')),
        timeNs: int64(o.timeUnixNano, at(here, '.timeUnixNano')),
        attributes: keyValues(o.attributes, at(here, '.attributes')),
      };
    }),
    status: { code: int(status.code, at(path, '.status.code')), message: str(status.message, at(path, '.status.message')) },
    resource,
  };
}

function logRecord(r: Obj, path: string, resource: Attributes): OtlpLogRecord {
  return {
    timeNs: int64(r.timeUnixNano, at(path, '.timeUnixNano')),
    observedNs: int64(r.observedTimeUnixNano, at(path, '.observedTimeUnixNano')),
    severityNumber: int(r.severityNumber, at(path, '.severityNumber')),
    severityText: str(r.severityText, at(path, '.severityText')),
    body: r.body === undefined || r.body === null ? undefined : anyValue(r.body, at(path, '.body')),
    attributes: keyValues(r.attributes, at(path, '.attributes')),
    traceId: hexId(r.traceId, 16, at(path, '.traceId')),
    spanId: hexId(r.spanId, 8, at(path, '.spanId')),
    eventName: str(r.eventName, at(path, '.eventName')),
    resource,
  };
}

/** ExportTraceServiceRequest / ExportLogsServiceRequest (collector/*\/v1/*_service.proto) -> items in order. */
export function normalizeExport(signal: Signal, message: unknown): OtlpItems {
  try {
    return normalizeItems(signal, message);
  } catch {
    // again with field paths, for the error's message: the same input fails at the same field
    tracking = true;
    try {
      return normalizeItems(signal, message);
    } finally {
      tracking = false;
    }
  }
}

function normalizeItems(signal: Signal, message: unknown): OtlpItems {
  const root = obj(message, 'request');
  if (signal === 'traces') {
    const items: OtlpSpan[] = [];
    list(root.resourceSpans, 'resourceSpans').forEach((rs, i) => {
      const rso = obj(rs, `resourceSpans[${i}]`);
      const resource = keyValues(obj(rso.resource, `resourceSpans[${i}].resource`).attributes, `resourceSpans[${i}].resource.attributes`);
      list(rso.scopeSpans, `resourceSpans[${i}].scopeSpans`).forEach((ss, j) => {
        const path = `resourceSpans[${i}].scopeSpans[${j}]`;
        list(obj(ss, path).spans, at(path, '.spans')).forEach((s, k) => {
          const here = item(at(path, '.spans'), k);
          items.push(span(obj(s, here), here, resource));
        });
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
      list(obj(sl, path).logRecords, at(path, '.logRecords')).forEach((r, k) => {
        const here = item(at(path, '.logRecords'), k);
        items.push(logRecord(obj(r, here), here, resource));
      });
    });
  });
  return { signal, items };
}
