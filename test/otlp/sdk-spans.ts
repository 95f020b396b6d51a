import { SpanKind, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/**
 * Spans made by the real OpenTelemetry SDK (not hand-written bodies), for tests that post the
 * SDK's own serialisation (@opentelemetry/otlp-transformer) or export it with the SDK's exporters.
 */
export interface SpanSpec {
  name: string;
  kind: SpanKind;
  attributes?: Attributes;
  startMs: number;
  durationMs: number;
}

export function sdkSpans(specs: SpanSpec[], service = 'sdk-test'): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('otlp-tests');
  for (const s of specs) {
    const span = tracer.startSpan(s.name, { kind: s.kind, attributes: s.attributes, startTime: s.startMs });
    span.end(s.startMs + s.durationMs);
  }
  return exporter.getFinishedSpans();
}

/** A SERVER span as the HTTP and Express instrumentations make it (stable HTTP conventions). */
export const serverSpan = (route: string, status: number | undefined, startMs: number, extra: Attributes = {}): SpanSpec => ({
  name: `GET ${route}`,
  kind: SpanKind.SERVER,
  startMs,
  durationMs: 12.5,
  attributes: {
    'http.request.method': 'GET',
    'http.route': route,
    'url.path': route.replace(/:\w+/g, 'x1'),
    ...(status !== undefined ? { 'http.response.status_code': status } : {}),
    ...extra,
  },
});
