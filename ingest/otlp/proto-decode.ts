import { I64, LEN, VARINT, WireError, WireReader } from './wire.js';
import type { Signal } from './model.js';

/**
 * ExportTraceServiceRequest and ExportLogsServiceRequest from their protobuf bytes, read by hand
 * (wire.ts): protobufjs' decode was most of the receiver's decode-and-normalize CPU (message
 * instances, a Long and a LongBits per 64-bit field, a Buffer object per id). The result has the
 * shape protobufjs gives, which normalize.ts reads: lowerCamelCase names, 64-bit integers as
 * {low, high, unsigned}, bytes as Buffers over the body, an AnyValue naming its set member in
 * `value`; unset fields are absent. Field numbers and types are proto.ts' (opentelemetry-proto
 * trace.proto, logs.proto, common.proto, resource.proto); a test compares both decoders.
 */
type Msg = Record<string, unknown>;

/** Reads one embedded message with `read`, on the same reader (no reader object per message). */
function embedded<T>(r: WireReader, read: (r: WireReader, depth: number) => T, depth = 0): T {
  const outer = r.enter();
  const out = read(r, depth);
  r.leave(outer);
  return out;
}

/** AnyValue nesting the decoder follows; normalize.ts refuses past 16 with the field's path. */
const MAX_DEPTH = 64;

/**
 * Sets a oneof member on `out`, dropping the one set before: the member read last is the one set
 * (the encoding spec's "last one wins"). Returns the member's name.
 */
function setMember(out: Msg, before: string | undefined, name: string, value: unknown): string {
  if (before !== undefined) delete out[before];
  out[name] = value;
  return name;
}

function anyValue(r: WireReader, depth: number): Msg {
  if (depth > MAX_DEPTH) throw new WireError(`an AnyValue nested deeper than ${MAX_DEPTH} levels`);
  const out: Msg = {};
  let set: string | undefined;
  while (r.pos < r.end) {
    const tag = r.tag();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wt !== LEN) break;
        set = setMember(out, set, 'stringValue', r.string());
        continue;
      case 2:
        if (wt !== VARINT) break;
        set = setMember(out, set, 'boolValue', r.bool());
        continue;
      case 3:
        if (wt !== VARINT) break;
        set = setMember(out, set, 'intValue', r.int64());
        continue;
      case 4:
        if (wt !== I64) break;
        set = setMember(out, set, 'doubleValue', r.double());
        continue;
      case 5:
        if (wt !== LEN) break;
        set = setMember(out, set, 'arrayValue', { values: embedded(r, (m) => repeatedIn(m, anyValue, depth + 1)) });
        continue;
      case 6:
        if (wt !== LEN) break;
        set = setMember(out, set, 'kvlistValue', { values: embedded(r, (m) => repeatedIn(m, keyValue, depth + 1)) });
        continue;
      case 7:
        if (wt !== LEN) break;
        set = setMember(out, set, 'bytesValue', r.bytes());
        continue;
    }
    r.skip(wt, tag >>> 3);
  }
  if (set !== undefined) out.value = set;
  return out;
}

/** ArrayValue.values / KeyValueList.values: field 1, repeated. */
function repeatedIn(r: WireReader, read: (r: WireReader, depth: number) => Msg, depth: number): Msg[] {
  const out: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) out.push(embedded(r, read, depth));
    else r.skip(tag & 7, tag >>> 3);
  }
  return out;
}

function keyValue(r: WireReader, depth = 0): Msg {
  const out: Msg = {};
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) out.key = r.string();
    else if (tag === ((2 << 3) | LEN)) out.value = embedded(r, anyValue, depth);
    else r.skip(tag & 7, tag >>> 3);
  }
  return out;
}

/** Resource: attributes (1). */
function resource(r: WireReader): Msg {
  const attributes: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) attributes.push(embedded(r, keyValue));
    else r.skip(tag & 7, tag >>> 3);
  }
  return { attributes };
}

function spanEvent(r: WireReader): Msg {
  const out: Msg = {};
  const attributes: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | I64:
        out.timeUnixNano = r.fixed64();
        continue;
      case (2 << 3) | LEN:
        out.name = r.string();
        continue;
      case (3 << 3) | LEN:
        attributes.push(embedded(r, keyValue));
        continue;
    }
    r.skip(tag & 7, tag >>> 3);
  }
  out.attributes = attributes;
  return out;
}

function spanStatus(r: WireReader): Msg {
  const out: Msg = {};
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((2 << 3) | LEN)) out.message = r.string();
    else if (tag === ((3 << 3) | VARINT)) out.code = r.uint32() | 0;
    else r.skip(tag & 7, tag >>> 3);
  }
  return out;
}

function span(r: WireReader): Msg {
  const out: Msg = {};
  const attributes: Msg[] = [];
  const events: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN:
        out.traceId = r.bytes();
        continue;
      case (2 << 3) | LEN:
        out.spanId = r.bytes();
        continue;
      case (5 << 3) | LEN:
        out.name = r.string();
        continue;
      case (6 << 3) | VARINT:
        out.kind = r.uint32() | 0;
        continue;
      case (7 << 3) | I64:
        out.startTimeUnixNano = r.fixed64();
        continue;
      case (8 << 3) | I64:
        out.endTimeUnixNano = r.fixed64();
        continue;
      case (9 << 3) | LEN:
        attributes.push(embedded(r, keyValue));
        continue;
      case (11 << 3) | LEN:
        events.push(embedded(r, spanEvent));
        continue;
      case (15 << 3) | LEN:
        out.status = embedded(r, spanStatus);
        continue;
    }
    r.skip(tag & 7, tag >>> 3);
  }
  out.attributes = attributes;
  out.events = events;
  return out;
}

function logRecord(r: WireReader): Msg {
  const out: Msg = {};
  const attributes: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | I64:
        out.timeUnixNano = r.fixed64();
        continue;
      case (2 << 3) | VARINT:
        out.severityNumber = r.uint32() | 0;
        continue;
      case (3 << 3) | LEN:
        out.severityText = r.string();
        continue;
      case (5 << 3) | LEN:
        out.body = embedded(r, anyValue);
        continue;
      case (6 << 3) | LEN:
        attributes.push(embedded(r, keyValue));
        continue;
      case (9 << 3) | LEN:
        out.traceId = r.bytes();
        continue;
      case (10 << 3) | LEN:
        out.spanId = r.bytes();
        continue;
      case (11 << 3) | I64:
        out.observedTimeUnixNano = r.fixed64();
        continue;
      case (12 << 3) | LEN:
        out.eventName = r.string();
        continue;
    }
    r.skip(tag & 7, tag >>> 3);
  }
  out.attributes = attributes;
  return out;
}

/**
 * ResourceSpans / ResourceLogs: resource (1), then its scopes (2), each holding its items in field
 * 2 (ScopeSpans.spans, ScopeLogs.log_records).
 */
function resourceItems(r: WireReader, scopesName: string, itemsName: string, item: (r: WireReader) => Msg): Msg {
  const out: Msg = {};
  const scopes: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) out.resource = embedded(r, resource);
    else if (tag === ((2 << 3) | LEN)) {
      const outer = r.enter();
      const items: Msg[] = [];
      while (r.pos < r.end) {
        const t = r.tag();
        if (t === ((2 << 3) | LEN)) items.push(embedded(r, item));
        else r.skip(t & 7, t >>> 3);
      }
      r.leave(outer);
      scopes.push({ [itemsName]: items });
    } else r.skip(tag & 7, tag >>> 3);
  }
  out[scopesName] = scopes;
  return out;
}

/** An export request's bytes as the message normalize.ts reads; WireError when they are not one. */
export function decodeExportRequest(signal: Signal, bytes: Buffer): Msg {
  const r = new WireReader(bytes);
  const resources: Msg[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag !== ((1 << 3) | LEN)) r.skip(tag & 7, tag >>> 3);
    else if (signal === 'traces') resources.push(embedded(r, (m) => resourceItems(m, 'scopeSpans', 'spans', span)));
    else resources.push(embedded(r, (m) => resourceItems(m, 'scopeLogs', 'logRecords', logRecord)));
  }
  return signal === 'traces' ? { resourceSpans: resources } : { resourceLogs: resources };
}
