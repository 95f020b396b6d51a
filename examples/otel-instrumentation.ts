/**
 * OpenTelemetry set-up for examples/otel-finance-api.ts, loaded before the app:
 *   node --import tsx --import ./examples/otel-instrumentation.ts examples/otel-finance-api.ts
 * The exporters read the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (our ingest's /otlp),
 * OTEL_EXPORTER_OTLP_HEADERS (Authorization=Bearer <key>), OTEL_EXPORTER_OTLP_COMPRESSION (gzip),
 * OTEL_SERVICE_NAME; OTEL_EXPORTER_OTLP_PROTOCOL picks http/protobuf (default) or http/json.
 */
import { register } from 'node:module';
import { logs } from '@opentelemetry/api-logs';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { defaultResource, detectResources, envDetector } from '@opentelemetry/resources';
import { NodeTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { LoggerProvider, BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';

// ESM apps: the instrumentations patch `import express` through import-in-the-middle's hook.
register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

const json = process.env.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json';
// service.name (OTEL_SERVICE_NAME) becomes the rows' `source`
const resource = defaultResource().merge(detectResources({ detectors: [envDetector] }));
const tracerProvider = new NodeTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(json ? new JsonTraceExporter() : new ProtoTraceExporter())],
});
tracerProvider.register();
const loggerProvider = new LoggerProvider({
  resource,
  processors: [new BatchLogRecordProcessor({ exporter: json ? new JsonLogExporter() : new ProtoLogExporter() })],
});
logs.setGlobalLoggerProvider(loggerProvider);

registerInstrumentations({
  instrumentations: [
    // the exporter's own calls and health checks are not API calls
    new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/healthz' }),
    new ExpressInstrumentation(),
  ],
});

/** Flushes what is buffered; the app calls it before exiting. */
export async function shutdownTelemetry(): Promise<void> {
  await Promise.allSettled([tracerProvider.shutdown(), loggerProvider.shutdown()]);
}
(globalThis as { shutdownTelemetry?: () => Promise<void> }).shutdownTelemetry = shutdownTelemetry;
