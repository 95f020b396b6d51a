import protobuf from 'protobufjs/light.js';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { LoggerProvider, InMemoryLogRecordExporter, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { decodeExportRequest } from '../../ingest/otlp/proto-decode.js';
import { decodeExport } from '../../ingest/otlp/decode.js';
import { normalizeExport } from '../../ingest/otlp/normalize.js';
import { messages } from '../../ingest/otlp/proto.js';
import { WireError } from '../../ingest/otlp/wire.js';
import type { OtlpLogRecord, OtlpSpan, Signal } from '../../ingest/otlp/model.js';
import { sdkSpans, serverSpan } from './sdk-spans.js';

/**
 * ingest/otlp/proto-decode.ts reads export requests by hand. Checked against protobufjs decoding
 * the same bytes with the receiver's descriptor (proto.ts), both normalised to the receiver's
 * model: on exports the OpenTelemetry SDK serialises itself, and on random exports written with
 * every field opentelemetry-proto defines (trace.proto, logs.proto, common.proto: the ones the
 * receiver skips too, of every wire type). Then what only the hand decoder decides, as the
 * encoding spec (protobuf.dev, "Encoding") and the reference implementations do.
 */
const both = (signal: Signal, bytes: Uint8Array) => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reference = (signal === 'traces' ? messages.traceRequest : messages.logsRequest).decode(buf);
  return { hand: normalizeExport(signal, decodeExportRequest(signal, buf)), reference: normalizeExport(signal, reference) };
};

// Every field of the messages the export requests carry, with opentelemetry-proto's numbers.
const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });
const field = (type: string, id: number) => ({ type, id });
const kvs = (id: number) => repeated('KeyValue', id);
const full = protobuf.Root.fromJSON({
  nested: {
    AnyValue: {
      oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
      fields: {
        stringValue: field('string', 1), boolValue: field('bool', 2), intValue: field('int64', 3), doubleValue: field('double', 4),
        arrayValue: field('ArrayValue', 5), kvlistValue: field('KeyValueList', 6), bytesValue: field('bytes', 7),
      },
    },
    ArrayValue: { fields: { values: repeated('AnyValue', 1) } },
    KeyValueList: { fields: { values: kvs(1) } },
    KeyValue: { fields: { key: field('string', 1), value: field('AnyValue', 2) } },
    Resource: { fields: { attributes: kvs(1), droppedAttributesCount: field('uint32', 2) } },
    InstrumentationScope: { fields: { name: field('string', 1), version: field('string', 2), attributes: kvs(3), droppedAttributesCount: field('uint32', 4) } },
    Event: { fields: { timeUnixNano: field('fixed64', 1), name: field('string', 2), attributes: kvs(3), droppedAttributesCount: field('uint32', 4) } },
    Link: {
      fields: { traceId: field('bytes', 1), spanId: field('bytes', 2), traceState: field('string', 3), attributes: kvs(4), droppedAttributesCount: field('uint32', 5), flags: field('fixed32', 6) },
    },
    Status: { fields: { message: field('string', 2), code: field('int32', 3) } },
    Span: {
      fields: {
        traceId: field('bytes', 1), spanId: field('bytes', 2), traceState: field('string', 3), parentSpanId: field('bytes', 4), flags: field('fixed32', 16),
        name: field('string', 5), kind: field('int32', 6), startTimeUnixNano: field('fixed64', 7), endTimeUnixNano: field('fixed64', 8),
        attributes: kvs(9), droppedAttributesCount: field('uint32', 10), events: repeated('Event', 11), droppedEventsCount: field('uint32', 12),
        links: repeated('Link', 13), droppedLinksCount: field('uint32', 14), status: field('Status', 15),
      },
    },
    ScopeSpans: { fields: { scope: field('InstrumentationScope', 1), spans: repeated('Span', 2), schemaUrl: field('string', 3) } },
    ResourceSpans: { fields: { resource: field('Resource', 1), scopeSpans: repeated('ScopeSpans', 2), schemaUrl: field('string', 3) } },
    ExportTraceServiceRequest: { fields: { resourceSpans: repeated('ResourceSpans', 1) } },
    LogRecord: {
      fields: {
        timeUnixNano: field('fixed64', 1), observedTimeUnixNano: field('fixed64', 11), severityNumber: field('int32', 2), severityText: field('string', 3),
        body: field('AnyValue', 5), attributes: kvs(6), droppedAttributesCount: field('uint32', 7), flags: field('fixed32', 8),
        traceId: field('bytes', 9), spanId: field('bytes', 10), eventName: field('string', 12),
      },
    },
    ScopeLogs: { fields: { scope: field('InstrumentationScope', 1), logRecords: repeated('LogRecord', 2), schemaUrl: field('string', 3) } },
    ResourceLogs: { fields: { resource: field('Resource', 1), scopeLogs: repeated('ScopeLogs', 2), schemaUrl: field('string', 3) } },
    ExportLogsServiceRequest: { fields: { resourceLogs: repeated('ResourceLogs', 1) } },
  },
});
const fullTrace = full.lookupType('ExportTraceServiceRequest');
const fullLogs = full.lookupType('ExportLogsServiceRequest');

/** A small deterministic generator, so a failure names a reproducible case. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomExport(seed: number, signal: Signal): Uint8Array {
  const r = random(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
  const maybe = <T>(p: number, v: () => T): T | undefined => (r() < p ? v() : undefined);
  const text = () => pick(['', 'GET /accounts', 'émile-bank', '銀行', '🏦 bank', 'x'.repeat(int(400)), 'line\nbreak', '"q"', String(int(1e9))]);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const int64s = ['0', '1', '-1', '4294967295', '4294967296', '-4294967296', '9007199254740993', '-9223372036854775808', '9223372036854775807'];
  const u64s = ['0', '1', '4294967296', '1796500000123456789', '18446744073709551615'];
  const value = (depth: number): Record<string, unknown> => {
    switch (int(depth > 2 ? 5 : 7)) {
      case 0: return { stringValue: text() };
      case 1: return { boolValue: r() < 0.5 };
      case 2: return { intValue: pick(int64s) };
      case 3: return { doubleValue: pick([0, -0, 1.5, -2.25e-300, 1e308, Number.MAX_SAFE_INTEGER, r() * 1e6]) };
      case 4: return { bytesValue: bytes(int(20)) };
      case 5: return { arrayValue: { values: Array.from({ length: int(4) }, () => value(depth + 1)) } };
      case 6: return { kvlistValue: { values: attributes(int(4), depth + 1) } };
      default: return { kvlistValue: {} };
    }
  };
  const attributes = (n: number, depth = 0) => Array.from({ length: n }, (_, i) => ({ key: maybe(0.97, () => pick(['http.route', 'link.id', 'a', `k${i}`, 'ключ'])), value: maybe(0.95, () => value(depth)) }));
  const scope = () => maybe(0.7, () => ({ name: text(), version: '1.2.3', attributes: attributes(int(3)), droppedAttributesCount: int(5) }));
  const resource = () => maybe(0.9, () => ({ attributes: attributes(int(5)), droppedAttributesCount: int(3) }));
  // ids always sent: protobufjs reads an absent or empty bytes field as [] (see the last test)
  const id = (n: number) => bytes(n);
  if (signal === 'traces') {
    const span = () => ({
      traceId: id(16), spanId: id(8), traceState: maybe(0.3, () => 'vendor=x'), parentSpanId: maybe(0.5, () => bytes(8)), flags: maybe(0.5, () => int(2 ** 32)),
      name: maybe(0.9, text), kind: maybe(0.9, () => pick([0, 1, 2, 3, 4, 5, -1, 2 ** 31 - 1])),
      startTimeUnixNano: maybe(0.95, () => pick(u64s)), endTimeUnixNano: maybe(0.95, () => pick(u64s)),
      attributes: attributes(int(12)), droppedAttributesCount: maybe(0.2, () => int(9)),
      events: Array.from({ length: int(3) }, () => ({ timeUnixNano: maybe(0.9, () => pick(u64s)), name: text(), attributes: attributes(int(3)), droppedAttributesCount: int(2) })),
      droppedEventsCount: maybe(0.2, () => int(9)),
      links: Array.from({ length: int(3) }, () => ({ traceId: bytes(16), spanId: bytes(8), traceState: 'a=b', attributes: attributes(int(2)), flags: int(256) })),
      status: maybe(0.6, () => ({ message: maybe(0.5, text), code: maybe(0.9, () => pick([0, 1, 2, -5])) })),
    });
    const request = {
      resourceSpans: Array.from({ length: 1 + int(3) }, () => ({
        resource: resource(), schemaUrl: maybe(0.3, () => 'https://opentelemetry.io/schemas/1.26.0'),
        scopeSpans: Array.from({ length: int(3) }, () => ({ scope: scope(), spans: Array.from({ length: int(6) }, span), schemaUrl: maybe(0.3, () => 's') })),
      })),
    };
    return fullTrace.encode(fullTrace.fromObject(request)).finish();
  }
  const log = () => ({
    timeUnixNano: maybe(0.9, () => pick(u64s)), observedTimeUnixNano: maybe(0.9, () => pick(u64s)), severityNumber: maybe(0.9, () => int(25)),
    severityText: maybe(0.7, () => pick(['INFO', 'ERROR', ''])), body: maybe(0.8, () => value(0)), attributes: attributes(int(10)),
    droppedAttributesCount: maybe(0.2, () => int(4)), flags: maybe(0.5, () => int(256)), traceId: id(16), spanId: id(8), eventName: maybe(0.3, () => 'webhook.attempt'),
  });
  const request = {
    resourceLogs: Array.from({ length: 1 + int(3) }, () => ({
      resource: resource(), schemaUrl: maybe(0.3, () => 's'),
      scopeLogs: Array.from({ length: int(3) }, () => ({ scope: scope(), logRecords: Array.from({ length: int(6) }, log), schemaUrl: maybe(0.3, () => 's') })),
    })),
  };
  return fullLogs.encode(fullLogs.fromObject(request)).finish();
}

const failure = (f: () => unknown) => {
  try {
    f();
    return undefined;
  } catch (err) {
    return err;
  }
};

describe('OTLP protobuf decoding by hand', () => {
  it('reads what the OpenTelemetry SDK serialises as protobufjs does', () => {
    const now = Date.now();
    const spans = sdkSpans([
      serverSpan('/api/accounts/:id', 200, now - 3_000),
      serverSpan('/api/transfers', 502, now - 2_000, { 'link.id': 'lnk_1', 'error.type': 'UPSTREAM', retries: 3, ratio: 0.25, ok: false, tags: ['a', 'b'] }),
      { name: 'POST webhook', kind: SpanKind.CLIENT, startMs: now - 1_000, durationMs: 3, attributes: { 'webhook.id': 'wh_1', 'http.response.status_code': 500 } },
    ]);
    const traces = both('traces', ProtobufTraceSerializer.serializeRequest(spans)!);
    expect(traces.hand.items).toHaveLength(3);
    expect(traces.hand).toEqual(traces.reference);

    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'sdk-logs' }), processors: [new SimpleLogRecordProcessor({ exporter })] });
    const logger = provider.getLogger('proto-decode-test');
    // in a span's context (a log outside any span has no ids: see the last test)
    const context = trace.setSpanContext(ROOT_CONTEXT, { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: 1 });
    logger.emit({ body: 'delivered', severityNumber: 9, severityText: 'INFO', attributes: { 'webhook.id': 'wh_2', attempt: 2 }, eventName: 'webhook.attempt', context });
    logger.emit({ body: { nested: { list: [1, 'two', true] } }, severityNumber: 17, timestamp: now, context });
    const logs = both('logs', ProtobufLogsSerializer.serializeRequest(exporter.getFinishedLogRecords())!);
    expect(logs.hand.items).toHaveLength(2);
    expect(logs.hand).toEqual(logs.reference);
  });

  for (const signal of ['traces', 'logs'] as const) {
    it(`reads random ${signal} exports with every field opentelemetry-proto defines as protobufjs does`, () => {
      let items = 0;
      for (let seed = 1; seed <= 500; seed++) {
        const { hand, reference } = both(signal, randomExport(seed, signal));
        expect(hand, `seed ${seed}`).toEqual(reference);
        items += hand.items.length;
      }
      expect(items).toBeGreaterThan(1000);
    });
  }

  it('fails on every cut of an export that ends inside a field, as protobufjs does, and reads the others alike', () => {
    const bytes = Buffer.from(randomExport(7, 'traces'));
    let failed = 0;
    for (let n = 1; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      const hand = failure(() => decodeExportRequest('traces', cut));
      const reference = failure(() => messages.traceRequest.decode(cut));
      expect(hand instanceof WireError, `cut at ${n}`).toBe(reference !== undefined);
      if (hand) failed++;
      else expect(normalizeExport('traces', decodeExportRequest('traces', cut))).toEqual(normalizeExport('traces', messages.traceRequest.decode(cut)));
    }
    expect(failed).toBeGreaterThan(bytes.length * 0.9);
  });

  it('skips unknown fields of every wire type, groups included, and a known field sent with another wire type', () => {
    const w = protobuf.Writer.create();
    // ExportTraceServiceRequest { resource_spans { scope_spans { spans { ... } } } } written field by field
    const span = protobuf.Writer.create()
      .uint32((5 << 3) | 2).string('kept')
      .uint32((5 << 3) | 0).uint32(7) // name as a varint: not a string, so unknown (C++ and Go parsers do the same)
      .uint32((99 << 3) | 1).fixed64(1) // unknown I64
      .uint32((98 << 3) | 5).fixed32(1) // unknown I32
      .uint32((97 << 3) | 3).uint32((1 << 3) | 0).uint32(5).uint32((2 << 3) | 2).string('in a group').uint32((97 << 3) | 4) // a group
      .uint32((6 << 3) | 0).int32(-1) // kind as a negative int32: sign-extended to 10 bytes
      .finish();
    const scope = protobuf.Writer.create().uint32((2 << 3) | 2).bytes(span).finish();
    const resource = protobuf.Writer.create().uint32((2 << 3) | 2).bytes(scope).finish();
    const bytes = Buffer.from(w.uint32((1 << 3) | 2).bytes(resource).finish());
    const [s] = normalizeExport('traces', decodeExportRequest('traces', bytes)).items as { name: string; kind: number }[];
    expect(s).toMatchObject({ name: 'kept', kind: -1 });
  });

  it('refuses what is not protobuf: field 0, a group ended by another, a varint past 10 bytes, a length past the end or over 2^31', () => {
    const cases: [string, number[], RegExp][] = [
      ['field 0', [0x00, 0x01], /field number 0/],
      ['group end mismatch', [(3 << 3) | 3, (4 << 3) | 4], /group 3 ended by the end of group 4/],
      ['end group alone', [(3 << 3) | 4], /wire type 4 of field 3/],
      ['long varint', [0x08, ...Array(10).fill(0xff), 0x01], /varint longer than 10 bytes/],
      ['length past the end', [0x0a, 0x05, 0x01], /ends inside a field/],
      // 2^32 + 5: a parser reading only 32 bits would take it for 5
      ['length over 2^31', [0x0a, 0x85, 0x80, 0x80, 0x80, 0x10, 0x01, 0x02, 0x03, 0x04, 0x05], /length over 2\^31/],
    ];
    for (const [what, bytes, message] of cases) {
      expect(failure(() => decodeExportRequest('traces', Buffer.from(bytes))), what).toBeInstanceOf(WireError);
      expect(() => decodeExportRequest('traces', Buffer.from(bytes)), what).toThrow(message);
    }
    // and the receiver answers them as a 400's message
    expect(() => decodeExport('traces', 'protobuf', Buffer.from([0x0a, 0x05, 0x01]))).toThrow(
      /^the body is not a valid protobuf ExportTraceServiceRequest: the message ends inside a field/,
    );
  });

  it('reads a log record sent without ids (a log outside any span) with empty ids, and an empty AnyValue as no value', () => {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
    provider.getLogger('proto-decode-test').emit({ body: 'retried from a timer', severityNumber: 9, attributes: { 'webhook.id': 'wh_3' } });
    const bytes = Buffer.from(ProtobufLogsSerializer.serializeRequest(exporter.getFinishedLogRecords())!);
    const [record] = decodeExport('logs', 'protobuf', bytes).items as OtlpLogRecord[];
    expect(record).toMatchObject({ traceId: '', spanId: '', body: 'retried from a timer', attributes: { 'webhook.id': 'wh_3' } });
    // protobufjs gives an absent bytes field as its frozen default, an empty Array, which
    // normalize.ts refused as an id: the whole export was a 400 before this decoder
    const reference = messages.logsRequest.decode(bytes) as unknown as { resourceLogs: { scopeLogs: { logRecords: { traceId: unknown }[] }[] }[] };
    expect(reference.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!.traceId).toEqual([]);

    // AnyValue {} is "no value" (common.proto): null, as OTLP JSON's {} reads (protobufjs' defaults gave '')
    const empty = fullTrace.encode(fullTrace.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ attributes: [{ key: 'e', value: {} }] }] }] }] })).finish();
    expect((decodeExport('traces', 'protobuf', Buffer.from(empty)).items[0] as OtlpSpan).attributes).toEqual({ e: null });
    const json = { resourceSpans: [{ scopeSpans: [{ spans: [{ attributes: [{ key: 'e', value: {} }] }] }] }] };
    expect((decodeExport('traces', 'json', Buffer.from(JSON.stringify(json))).items[0] as OtlpSpan).attributes).toEqual({ e: null });
  });
});
