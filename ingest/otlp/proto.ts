import protobuf from 'protobufjs/light.js';

/**
 * A protobufjs descriptor of just the OTLP messages this receiver reads or writes, written by hand
 * from opentelemetry-proto (field numbers and types as in):
 *   opentelemetry/proto/collector/trace/v1/trace_service.proto  ExportTraceServiceRequest/Response
 *   opentelemetry/proto/collector/logs/v1/logs_service.proto    ExportLogsServiceRequest/Response
 *   opentelemetry/proto/trace/v1/trace.proto                    ResourceSpans, ScopeSpans, Span
 *   opentelemetry/proto/logs/v1/logs.proto                      ResourceLogs, ScopeLogs, LogRecord
 *   opentelemetry/proto/common/v1/common.proto, resource/v1/resource.proto
 * and googleapis google/rpc/status.proto, error_details.proto (BadRequest, RequestInfo) for error
 * bodies. Fields left out (scope, schema_url, flags, links, dropped counts...) are skipped by the
 * decoder like any unknown field. Names are the proto's lowerCamelCase JSON names.
 * The receiver writes its responses with it; it reads requests with proto-decode.ts, which
 * test/otlp/proto-decode.test.ts checks against these request types.
 */
const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });
const field = (type: string, id: number) => ({ type, id });

const descriptor = {
  nested: {
    AnyValue: {
      oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
      fields: {
        stringValue: field('string', 1),
        boolValue: field('bool', 2),
        intValue: field('int64', 3),
        doubleValue: field('double', 4),
        arrayValue: field('ArrayValue', 5),
        kvlistValue: field('KeyValueList', 6),
        bytesValue: field('bytes', 7),
      },
    },
    ArrayValue: { fields: { values: repeated('AnyValue', 1) } },
    KeyValueList: { fields: { values: repeated('KeyValue', 1) } },
    KeyValue: { fields: { key: field('string', 1), value: field('AnyValue', 2) } },
    Resource: { fields: { attributes: repeated('KeyValue', 1) } },

    SpanEvent: { fields: { timeUnixNano: field('fixed64', 1), name: field('string', 2), attributes: repeated('KeyValue', 3) } },
    SpanStatus: { fields: { message: field('string', 2), code: field('int32', 3) } },
    Span: {
      fields: {
        traceId: field('bytes', 1),
        spanId: field('bytes', 2),
        name: field('string', 5),
        kind: field('int32', 6),
        startTimeUnixNano: field('fixed64', 7),
        endTimeUnixNano: field('fixed64', 8),
        attributes: repeated('KeyValue', 9),
        events: repeated('SpanEvent', 11),
        status: field('SpanStatus', 15),
      },
    },
    ScopeSpans: { fields: { spans: repeated('Span', 2) } },
    ResourceSpans: { fields: { resource: field('Resource', 1), scopeSpans: repeated('ScopeSpans', 2) } },
    ExportTraceServiceRequest: { fields: { resourceSpans: repeated('ResourceSpans', 1) } },
    ExportTracePartialSuccess: { fields: { rejectedSpans: field('int64', 1), errorMessage: field('string', 2) } },
    ExportTraceServiceResponse: { fields: { partialSuccess: field('ExportTracePartialSuccess', 1) } },

    LogRecord: {
      fields: {
        timeUnixNano: field('fixed64', 1),
        severityNumber: field('int32', 2),
        severityText: field('string', 3),
        body: field('AnyValue', 5),
        attributes: repeated('KeyValue', 6),
        traceId: field('bytes', 9),
        spanId: field('bytes', 10),
        observedTimeUnixNano: field('fixed64', 11),
        eventName: field('string', 12),
      },
    },
    ScopeLogs: { fields: { logRecords: repeated('LogRecord', 2) } },
    ResourceLogs: { fields: { resource: field('Resource', 1), scopeLogs: repeated('ScopeLogs', 2) } },
    ExportLogsServiceRequest: { fields: { resourceLogs: repeated('ResourceLogs', 1) } },
    ExportLogsPartialSuccess: { fields: { rejectedLogRecords: field('int64', 1), errorMessage: field('string', 2) } },
    ExportLogsServiceResponse: { fields: { partialSuccess: field('ExportLogsPartialSuccess', 1) } },

    // google/protobuf/any.proto, google/rpc/status.proto, google/rpc/error_details.proto
    Any: { fields: { typeUrl: field('string', 1), value: field('bytes', 2) } },
    Status: { fields: { code: field('int32', 1), message: field('string', 2), details: repeated('Any', 3) } },
    FieldViolation: { fields: { field: field('string', 1), description: field('string', 2) } },
    BadRequest: { fields: { fieldViolations: repeated('FieldViolation', 1) } },
    RequestInfo: { fields: { requestId: field('string', 1) } },
  },
};

const root = protobuf.Root.fromJSON(descriptor);
export const messages = {
  traceRequest: root.lookupType('ExportTraceServiceRequest'),
  traceResponse: root.lookupType('ExportTraceServiceResponse'),
  logsRequest: root.lookupType('ExportLogsServiceRequest'),
  logsResponse: root.lookupType('ExportLogsServiceResponse'),
  status: root.lookupType('Status'),
  badRequest: root.lookupType('BadRequest'),
  requestInfo: root.lookupType('RequestInfo'),
};
