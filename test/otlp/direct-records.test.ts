import { describe, expect, it } from 'vitest';
import { mapExport, defaultAttributeMap, type TargetKind } from '../../ingest/otlp/map.js';
import type { AttrValue, OtlpLogRecord, OtlpSpan } from '../../ingest/otlp/model.js';
import { prepareBatch, prepareRecords } from '../../ingest/prepare.js';
import { configuredStages } from '../../ingest/stages.js';

// The OTLP receiver hands its mapped records to validation as objects (prepareRecords) instead of
// as a JSON body (prepareBatch). Both must give the same outcome for every record: the same rows'
// text, the same rejections with the same messages. Compared here on varied spans and log records,
// valid and not, with the configured stages (redaction) on.

/** A small deterministic generator, so a failure names a reproducible case. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function items(seed: number, n: number): { spans: OtlpSpan[]; logs: OtlpLogRecord[] } {
  const r = random(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = <T>(p: number, v: () => T): T | undefined => (r() < p ? v() : undefined);
  const attrs = (entries: [string, AttrValue | undefined][]) => Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as Record<string, AttrValue>;
  const statuses: AttrValue[] = [200, 201, 204, 301, 400, 401, 404, 422, 500, 503, '404', '2xx', -1, 99999, 2.5, true];
  const strings: AttrValue[] = ['acme', 'émile-bank', 'user@example.com', 'Bearer abc.def.ghi', 'call 0612345678901', '', 'x'.repeat(300), 'line\nbreak', '"quoted"'];
  const t0 = 1_796_500_000_000_000_000n;
  const spans = Array.from({ length: n }, (_, i): OtlpSpan => {
    const start = t0 + BigInt(Math.floor(r() * 1e12));
    const webhook = r() < 0.2;
    return {
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: r() < 0.95 ? (i + 1).toString(16).padStart(16, '0') : '',
      name: 'span',
      kind: webhook ? 3 : pick([2, 2, 2, 2, 1]),
      startNs: start,
      endNs: start + BigInt(Math.floor(r() * 5e9)),
      attributes: attrs([
        ['http.request.method', webhook ? 'POST' : maybe(0.95, () => pick(['GET', 'post', 'DELETE', 'PATCH', '']))],
        ['http.response.status_code', maybe(0.9, () => pick(statuses))],
        ['http.route', maybe(0.7, () => pick(['/api/links/:id', '/api/owners', '/', 'y'.repeat(600)]))],
        ['url.path', maybe(0.5, () => pick(['/api/links/3f9c2a1e-8b7d-4c6a-9e5f-1a2b3c4d5e6f?x=1', '/api/owners/12345']))],
        ['link.id', maybe(0.6, () => pick(strings))],
        ['customer.id', maybe(0.5, () => pick(strings))],
        ['institution.name', maybe(0.5, () => pick(strings))],
        ['error.type', maybe(0.3, () => pick(strings))],
        ['error.message', maybe(0.3, () => pick(strings))],
        ['webhook.id', webhook ? maybe(0.9, () => `wh-${i}`) : undefined],
        ['webhook.event', webhook ? maybe(0.9, () => pick(['link.created', 'link.updated', ''])) : undefined],
        ['webhook.type', webhook ? maybe(0.9, () => pick(['LINK', 'HISTORIC'])) : undefined],
        ['webhook.attempt', webhook ? maybe(0.9, () => pick([1, 2, 3, 0, '4', 'x'])) : undefined],
        ['url.full', webhook ? maybe(0.9, () => pick(['https://hooks.example.com/a', 'not a url'])) : undefined],
      ]),
      events: r() < 0.1 ? [{ name: 'exception', timeNs: start, attributes: { 'exception.type': 'TypeError', 'exception.message': pick(strings) } }] : [],
      status: { code: pick([0, 1, 2]), message: pick(['', 'boom', 'token=Bearer xyz']) },
      resource: attrs([['service.name', maybe(0.9, () => pick(['svc', 'api-gw', '']))]]),
    };
  });
  const logs = Array.from({ length: Math.floor(n / 2) }, (_, i): OtlpLogRecord => ({
    timeNs: r() < 0.9 ? t0 + BigInt(Math.floor(r() * 1e12)) : 0n,
    observedNs: t0,
    severityNumber: 9,
    severityText: 'INFO',
    body: pick<AttrValue | undefined>([undefined, 'plain text', '{"link":{"id":"l-1","email":"a@b.co"}}', '{not json', { event: 'x', nested: { card: '4111111111111111', list: [1, 'two', null, { k: true }] } }, [1, 2]]),
    attributes: attrs([
      ['webhook.id', maybe(0.9, () => `wh-log-${i}`)],
      ['webhook.event', maybe(0.9, () => pick(['link.created', 'transactions.new']))],
      ['webhook.type', maybe(0.9, () => pick(['LINK', 'TRANSACTIONS']))],
      ['webhook.attempt', maybe(0.9, () => pick([1, 2, 7]))],
      ['url.full', maybe(0.9, () => 'https://hooks.example.com/b')],
      ['http.response.status_code', maybe(0.7, () => pick(statuses))],
      ['error.message', maybe(0.2, () => pick(strings))],
      ['link.id', maybe(0.5, () => pick(strings))],
    ]),
    traceId: '',
    spanId: '',
    eventName: '',
    resource: {},
  }));
  return { spans, logs };
}

describe('OTLP records go to validation without a JSON round trip', () => {
  const stages = configuredStages();
  const input = (kind: TargetKind, seed: number) => ({ kind, apiKeyId: 'key-1', batchId: `batch-${seed}`, receivedAt: 1_796_500_000_000 });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`gives the outcome of the JSON path, record for record (seed ${seed})`, () => {
      const { spans, logs } = items(seed, 400);
      let compared = 0;
      let rejected = 0;
      for (const exported of [{ signal: 'traces' as const, items: spans }, { signal: 'logs' as const, items: logs }]) {
        const mapped = mapExport(exported, { attributes: defaultAttributeMap });
        for (const [kind, batch] of Object.entries(mapped.byKind) as [TargetKind, { records: Record<string, unknown>[] }][]) {
          const viaJson = prepareBatch({ ...input(kind, seed), body: Buffer.from(JSON.stringify(batch.records)), contentType: 'application/json' }, 10_000, stages);
          const direct = prepareRecords(batch.records, input(kind, seed), 10_000, stages);
          expect(direct).toEqual(viaJson);
          compared += batch.records.length;
          rejected += viaJson.rejected.length;
        }
      }
      // the cases cover both outcomes in earnest
      expect(compared).toBeGreaterThan(400);
      expect(rejected).toBeGreaterThan(20);
      expect(compared - rejected).toBeGreaterThan(60);
    });
  }

  it('leaves out the fields a span does not have (as JSON would), so none reaches validation as undefined', () => {
    const { spans } = items(9, 50);
    const records = mapExport({ signal: 'traces', items: spans }, { attributes: defaultAttributeMap }).byKind.logs!.records;
    for (const record of records) expect(Object.values(record)).not.toContain(undefined);
  });
});
