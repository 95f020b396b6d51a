import { describe, expect, it } from 'vitest';
import { decodeExport } from '../../ingest/otlp/decode.js';
import { messages } from '../../ingest/otlp/proto.js';
import type { OtlpSpan } from '../../ingest/otlp/model.js';

/**
 * ingest/otlp/normalize.ts reads 64-bit integers from protobufjs' Longs by their two halves, and
 * names a bad field only when it re-reads an export that failed. Both checked against what the
 * slow ways give: Long's own decimal string, and the full path of the first bad field.
 */
const traceId = Buffer.alloc(16, 0xab);
const spanId = Buffer.alloc(8, 0xcd);

function protobufExport(spans: Record<string, unknown>[]): Buffer {
  const message = messages.traceRequest.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
  return Buffer.from(messages.traceRequest.encode(message).finish());
}

const decodedSpans = (spans: Record<string, unknown>[]) => {
  const exported = decodeExport('traces', 'protobuf', protobufExport(spans));
  return exported.items as OtlpSpan[];
};

describe('OTLP protobuf normalising', () => {
  it('reads fixed64 times and int64 attributes exactly, at the edges of their ranges', () => {
    const times = ['0', '1', '4294967295', '4294967296', '1733550000123456789', '9007199254740993', '18446744073709551615'];
    const ints = ['-9223372036854775808', '-4294967296', '-1', '0', '9007199254740991', '9007199254740993', '9223372036854775807'];
    const spans = times.map((t, i) => ({
      traceId,
      spanId,
      name: `s${i}`,
      kind: 2,
      startTimeUnixNano: t,
      endTimeUnixNano: t,
      attributes: [{ key: 'n', value: { intValue: ints[i] } }],
      events: [{ name: 'e', timeUnixNano: t }],
    }));
    const items = decodedSpans(spans);
    expect(items.map((s) => s.startNs.toString())).toEqual(times);
    expect(items.map((s) => s.events[0]!.timeNs.toString())).toEqual(times);
    // exact numbers within 2^53, decimal strings beyond (model.ts AttrValue)
    expect(items.map((s) => s.attributes.n)).toEqual(ints.map((v) => (Number.isSafeInteger(Number(v)) ? Number(v) : v)));
    expect(items[0]!.traceId).toBe(traceId.toString('hex'));
    expect(items[0]!.spanId).toBe(spanId.toString('hex'));
  });

  it("names the first bad field's full path, as a re-read finds it", () => {
    const good = { traceId, spanId, name: 'ok', kind: 2, attributes: [{ key: 'a', value: { stringValue: 'x' } }] };
    const bad = { ...good, spanId: Buffer.alloc(5, 1) };
    expect(() => decodeExport('traces', 'protobuf', protobufExport([good, good, bad, bad]))).toThrow(
      'the body is not a valid protobuf ExportTraceServiceRequest: resourceSpans[0].scopeSpans[0].spans[2].spanId must be 8 bytes',
    );
    const nested = { ...good, attributes: [{ key: 'a', value: { stringValue: 'x' } }, { key: 'deep', value: { kvlistValue: { values: [{ key: 'b', value: { arrayValue: { values: [{ intValue: 1 }, { boolValue: true }] } } }] } } }] };
    const tooDeep = (depth: number): Record<string, unknown> => (depth === 0 ? { stringValue: 'leaf' } : { arrayValue: { values: [tooDeep(depth - 1)] } });
    const deep = { ...good, events: [{ name: 'e', attributes: [{ key: 'z', value: tooDeep(20) }] }] };
    expect(() => decodeExport('traces', 'protobuf', protobufExport([nested, deep]))).toThrow(
      /: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[1\]\.events\[0\]\.attributes\[0\]\.value(\.arrayValue\.values\[0\]){17} is nested deeper than 16 levels$/,
    );
    expect(decodedSpans([nested])[0]!.attributes.deep).toEqual({ b: [1, true] });
  });
});
