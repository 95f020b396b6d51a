import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { startIngest, type IngestRuntime } from '../ingest/runtime.js';
import { createLogger } from '../lib/logger.js';
import {
  DROP,
  configuredStages,
  defineStage,
  enrichmentStage,
  errorOriginStage,
  institutionDirectory,
  reject,
  runStages,
  type Stage,
} from '../ingest/stages.js';
import { requestLogSchema, type RequestLog } from '../schema/records.js';

const log = (over: Record<string, unknown> = {}) => ({
  request_id: `r-${Math.random().toString(36).slice(2)}`,
  timestamp: Date.now() - 60_000,
  method: 'GET',
  endpoint: '/api/accounts/',
  status_code: 200,
  customer_id: 'acme',
  ...over,
});
const parsed = (over: Record<string, unknown> = {}) => requestLogSchema.parse(log(over));
const ctx = { kind: 'logs' as const, apiKeyId: 'k0' };
const schema = requestLogSchema as never;

describe('runStages', () => {
  it('runs stages in order, each seeing what the previous returned', () => {
    const seen: string[] = [];
    const a = defineStage('a', ['logs'], (r) => ({ ...r, source: 'a' }));
    const b = defineStage('b', ['logs'], (r) => {
      seen.push(r.source);
      return { ...r, source: `${r.source}b` };
    });
    const out = runStages([a, b], parsed(), ctx, schema);
    expect(seen).toEqual(['a']);
    expect(out).toMatchObject({ outcome: 'keep', record: { source: 'ab' } });
  });

  it('skips stages meant for other kinds', () => {
    const linksOnly = defineStage('links-only', ['links'], () => DROP);
    expect(runStages([linksOnly], parsed(), ctx, schema).outcome).toBe('keep');
  });

  it('drops, rejects with the reason, and turns a throw or an invalid result into a rejection naming the stage', () => {
    expect(runStages([defineStage('d', ['logs'], () => DROP)], parsed(), ctx, schema)).toEqual({ outcome: 'drop', stage: 'd' });
    expect(runStages([defineStage('r', ['logs'], () => reject('no customer'))], parsed(), ctx, schema)).toEqual({
      outcome: 'reject',
      error: { path: 'r', message: 'no customer' },
    });
    const thrower: Stage = { name: 'boom', run: () => { throw new Error('table not loaded'); } };
    expect(runStages([thrower], parsed(), ctx, schema)).toEqual({ outcome: 'reject', error: { path: 'boom', message: 'stage "boom" failed: table not loaded' } });
    const breaker = defineStage('breaker', ['logs'], (r) => ({ ...r, status_code: 42 }));
    const out = runStages([breaker], parsed(), ctx, schema);
    expect(out).toMatchObject({ outcome: 'reject', error: { path: 'breaker' } });
    expect(out.outcome === 'reject' && out.error.message).toMatch(/stage "breaker" produced an invalid record: status_code/);
  });
});

describe('built-in stages', () => {
  it('error-origin: fills the origin of an error from the table, from error.code or the error body', () => {
    const stage = errorOriginStage();
    const run = (over: Record<string, unknown>) => (runStages([stage], parsed(over), ctx, schema) as { record: RequestLog }).record.error_origin;
    expect(run({ status_code: 428, error: { code: 'token_required', message: 'm' } })).toBe('institution');
    expect(run({ status_code: 500, response_body: [{ code: 'unexpected_error', message: 'm' }] })).toBe('internal');
    expect(run({ status_code: 428, error: { code: 'token_required', message: 'm' }, error_origin: 'internal' })).toBe('internal'); // the producer said
    expect(run({ status_code: 418, error: { code: 'teapot', message: 'm' } })).toBeUndefined(); // not in the table
    expect(run({ status_code: 200, response_body: { code: 'token_required' } })).toBeUndefined(); // not an error
    const custom = errorOriginStage({ teapot: 'institution' });
    expect((runStages([custom], parsed({ status_code: 418, error: { code: 'teapot', message: 'm' } }), ctx, schema) as { record: RequestLog }).record.error_origin).toBe('institution');
  });

  it('enrichment: adds the map\'s fields for the key\'s value, keeping what the producer sent unless told to overwrite', () => {
    const enrich = enrichmentStage({ key: 'institution', map: institutionDirectory });
    const out = enrich.run(parsed({ institution: 'erebor_mx_retail' }), ctx) as Record<string, unknown>;
    expect(out).toMatchObject({ institution: 'erebor_mx_retail', institution_name: 'Erebor Retail', institution_country: 'MX' });
    const sent = enrich.run({ ...parsed({ institution: 'banco_azul_co' }), institution_country: 'PE' } as never, ctx) as Record<string, unknown>;
    expect(sent).toMatchObject({ institution_name: 'Banco Azul', institution_country: 'PE' });
    const over = enrichmentStage({ key: 'institution', map: institutionDirectory, overwrite: true });
    expect(over.run({ ...parsed({ institution: 'banco_azul_co' }), institution_country: 'PE' } as never, ctx)).toMatchObject({ institution_country: 'CO' });
    const unknown = parsed({ institution: 'nobody_bank' });
    expect(enrich.run(unknown, ctx)).toBe(unknown);
  });

  it('the configured stages classify error origins', () => {
    expect(configuredStages().map((s) => s.name)).toContain('error-origin');
  });
});

// Through the real ingest API and worker: one pipeline with the configured stages, and a second
// ingest (same queue, same worker) with custom stages.
let p: TestPipeline;
let custom: IngestRuntime;
beforeAll(async () => {
  p = await startTestPipeline();
  const stages: Stage[] = [
    defineStage('skip-health-checks', ['logs'], (r) => (r.endpoint === '/healthz' ? DROP : r)),
    defineStage('require-customer', ['logs'], (r) => (r.customer_id ? r : reject('customer_id is required on this deployment'))),
    defineStage('flaky', ['logs'], (r) => {
      if (r.request_id === 'explode') throw new Error('lookup table missing');
      return r;
    }),
    ...configuredStages(),
  ];
  custom = await startIngest(p.config, createLogger('test', 'silent'), { stages });
});
afterAll(async () => {
  await custom?.stop();
  await p?.close();
});

const postTo = (url: string, records: unknown[]) =>
  fetch(`${url}/v1/logs`, { method: 'POST', headers: { Authorization: `Bearer ${p.apiKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify(records) });

describe('stages in the ingest API', () => {
  it('the default pipeline stores the classified origin when the producer did not say', async () => {
    const res = await p.post('logs', [
      log({ request_id: 'cls-1', status_code: 428, error: { code: 'token_required', message: 'A MFA token is required' } }),
      log({ request_id: 'cls-2', status_code: 500, error: { code: 'unexpected_error', message: 'oops' } }),
      log({ request_id: 'cls-3', status_code: 502, error: { code: 'institution_down', message: 'down' }, error_origin: 'internal' }),
      log({ request_id: 'cls-4', status_code: 200 }),
    ]);
    expect(res.status).toBe(202);
    await p.waitForIdle();
    const rows = await p.rows<{ request_id: string; error_origin: string }>(
      `SELECT request_id, error_origin FROM ${p.database}.request_logs WHERE request_id LIKE 'cls-%' ORDER BY request_id`,
    );
    expect(rows.map((r) => [r.request_id, r.error_origin])).toEqual([['cls-1', 'institution'], ['cls-2', 'internal'], ['cls-3', 'internal'], ['cls-4', '']]);
  });

  it('custom stages drop, reject with a reason, and a throwing stage rejects only its record', async () => {
    const res = await postTo(custom.url, [
      log({ request_id: 'st-keep', status_code: 428, error: { code: 'token_required', message: 'm' } }),
      log({ request_id: 'st-health', endpoint: '/healthz' }),
      log({ request_id: 'st-nocustomer', customer_id: undefined }),
      log({ request_id: 'explode' }),
      { request_id: 'st-invalid' },
    ]);
    expect(res.status).toBe(207);
    const body = (await res.json()) as { accepted: number; rejected: { index: number; errors: { path: string; message: string }[] }[] };
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r) => r.index)).toEqual([2, 3, 4]);
    expect(body.rejected[0]).toEqual({ index: 2, errors: [{ path: 'require-customer', message: 'customer_id is required on this deployment' }] });
    expect(body.rejected[1]).toEqual({ index: 3, errors: [{ path: 'flaky', message: 'stage "flaky" failed: lookup table missing' }] });
    expect(body.rejected[2]!.errors[0]!.path).toBe('timestamp'); // schema validation, before any stage
    await p.waitForIdle();
    const rows = await p.rows<{ request_id: string; error_origin: string }>(
      `SELECT request_id, error_origin FROM ${p.database}.request_logs WHERE request_id LIKE 'st-%' OR request_id = 'explode'`,
    );
    expect(rows).toEqual([{ request_id: 'st-keep', error_origin: 'institution' }]);
  });

  it('a batch every record of which a stage dropped is accepted with nothing queued', async () => {
    const res = await postTo(custom.url, [log({ request_id: 'st-h1', endpoint: '/healthz' }), log({ request_id: 'st-h2', endpoint: '/healthz' })]);
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 0, rejected: [] });
    await p.waitForIdle();
    expect(await p.rows(`SELECT request_id FROM ${p.database}.request_logs WHERE request_id LIKE 'st-h%'`)).toEqual([]);
  });

  it('a batch every record of which a stage rejected is a 400 listing each', async () => {
    const res = await postTo(custom.url, [log({ customer_id: undefined }), log({ customer_id: undefined })]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; rejected: { index: number; errors: { path: string }[] }[] };
    expect(body.code).toBe('validation_error');
    expect(body.rejected.map((r) => [r.index, r.errors[0]!.path])).toEqual([[0, 'require-customer'], [1, 'require-customer']]);
  });
});
