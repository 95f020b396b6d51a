import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/env.js';
import { mapExport, normalisedPath, defaultAttributeMap } from '../../ingest/otlp/map.js';
import type { OtlpSpan } from '../../ingest/otlp/model.js';

// The mapping's configurable parts and fallbacks, on spans in the receiver's model.
const span = (over: Partial<OtlpSpan> = {}): OtlpSpan => ({
  traceId: '5b8efff798038103d269b633813fc60c',
  spanId: 'd940a8a5a1559ea2',
  name: 'GET',
  kind: 2,
  startNs: 1_796_500_000_000_000_000n,
  endNs: 1_796_500_000_012_345_678n,
  attributes: { 'http.method': 'get', 'http.status_code': '503', 'http.target': '/api/links/3f9c2a1e-8b7d-4c6a-9e5f-1a2b3c4d5e6f/accounts?page=2' },
  events: [],
  status: { code: 2, message: '' },
  resource: { 'service.name': 'svc', 'tenant.id': 'tenant-9' },
  ...over,
});

describe('OpenTelemetry mapping', () => {
  it('reads the older HTTP attribute names and, without http.route, a normalised path (never ids)', () => {
    const [record] = mapExport({ signal: 'traces', items: [span()] }, { attributes: defaultAttributeMap }).byKind.logs!.records;
    expect(record).toMatchObject({ method: 'GET', status_code: 503, endpoint: '/api/links/:id/accounts', duration_ms: 12.346, request_id: 'd940a8a5a1559ea2', timestamp: 1_796_500_000_000 });
    expect(normalisedPath('/api/owners/12345/tx/ab12cd34ef56ab78?x=1')).toBe('/api/owners/:id/tx/:id');
    expect(normalisedPath('/api/links/')).toBe('/api/links/');
  });

  it('takes the error from an exception event when no error attribute is set', () => {
    const withException = span({
      events: [{ name: 'exception', timeNs: 1n, attributes: { 'exception.type': 'TypeError', 'exception.message': 'x is undefined' } }],
    });
    const [record] = mapExport({ signal: 'traces', items: [withException] }, { attributes: defaultAttributeMap }).byKind.logs!.records;
    expect(record!.error).toEqual({ code: 'TypeError', message: 'x is undefined' });
  });

  it('remaps fields to other attributes (span first, then resource) and reads request_id from a configured attribute', () => {
    const config = loadConfig({ OTLP_ATTRIBUTES: 'customer_id=tenant.id, institution=bank.name', OTLP_REQUEST_ID_ATTRIBUTE: 'http.request.header.x-request-id' });
    expect(config.OTLP_ATTRIBUTES).toEqual({ ...defaultAttributeMap, customer_id: 'tenant.id', institution: 'bank.name' });
    const s = span({ attributes: { ...span().attributes, 'bank.name': 'erebor', 'http.request.header.x-request-id': 'req-77' } });
    const [record] = mapExport({ signal: 'traces', items: [s] }, { attributes: config.OTLP_ATTRIBUTES, requestIdAttribute: config.OTLP_REQUEST_ID_ATTRIBUTE }).byKind.logs!.records;
    expect(record).toMatchObject({ customer_id: 'tenant-9', institution: 'erebor', request_id: 'req-77' });
  });

  it('refuses an OTLP_ATTRIBUTES entry naming an unknown field', () => {
    expect(() => loadConfig({ OTLP_ATTRIBUTES: 'tenant=tenant.id' })).toThrow(ConfigError);
    expect(() => loadConfig({ OTLP_ATTRIBUTES: 'tenant=tenant.id' })).toThrow(/OTLP_ATTRIBUTES=.*'tenant=tenant.id' must be field=attribute/);
  });

  it('ignores SERVER spans without an HTTP method and CLIENT spans without webhook.id', () => {
    const mapped = mapExport(
      { signal: 'traces', items: [span({ attributes: { 'rpc.system': 'grpc' } }), span({ kind: 3, attributes: { 'http.request.method': 'POST' } })] },
      { attributes: defaultAttributeMap },
    );
    expect(mapped.byKind).toEqual({});
    expect(mapped.ignored).toEqual({ server_span: 1, client_span: 1 });
  });
});
