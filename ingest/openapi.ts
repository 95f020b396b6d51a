import { z } from 'zod';
import { recordKinds, kindNames } from '../schema/records.js';
import { errorCodes } from './errors.js';

/** The ingest API as OpenAPI 3.1, derived from the zod record schemas (docs/openapi.json). */
export function openApiDocument() {
  const schemas: Record<string, unknown> = {};
  for (const kind of kindNames) {
    schemas[recordKinds[kind].title] = z.toJSONSchema(recordKinds[kind].schema, { io: 'input', unrepresentable: 'any' });
  }
  schemas.Error = {
    type: 'object',
    required: ['code', 'message', 'request_id'],
    properties: {
      code: { type: 'string', enum: errorCodes },
      message: { type: 'string' },
      request_id: { type: 'string', description: 'Same as the X-Request-Id response header' },
    },
    additionalProperties: true,
  };
  schemas.Rejected = {
    type: 'object',
    properties: {
      index: { type: 'integer', description: 'Position of the record in the batch (0-based)' },
      errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
    },
  };
  schemas.Accepted = {
    type: 'object',
    properties: {
      accepted: { type: 'integer' },
      rejected: { type: 'array', items: { $ref: '#/components/schemas/Rejected' } },
      batch_id: { type: 'string' },
    },
  };
  const err = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  const paths: Record<string, unknown> = {};
  for (const kind of kindNames) {
    const { title } = recordKinds[kind];
    const ref = { $ref: `#/components/schemas/${title}` };
    paths[recordKinds[kind].path] = {
      post: {
        summary: `Ingest a batch of ${title} records`,
        security: [{ bearer: [] }],
        parameters: [
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'A repeat within 24 h returns the first response and enqueues nothing' },
          { name: 'X-Request-Id', in: 'header', required: false, schema: { type: 'string' } },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { type: 'array', items: ref, maxItems: 10_000 } },
            'application/x-ndjson': { schema: ref, description: 'One record per line' },
          },
        },
        responses: {
          '202': { description: 'All records accepted: they will land in ClickHouse', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } },
          '207': { description: 'Valid records accepted, invalid ones listed in `rejected`', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } },
          '400': err('invalid_json or validation_error (no valid record; `rejected` lists each)'),
          '401': err('unauthorized'),
          '409': err('idempotency_conflict: key reused with another body, or still in progress'),
          '413': err('payload_too_large: over 10,000 records or 10 MiB'),
          '415': err('unsupported_media_type'),
          '429': err('backpressure: queue over its cap; honour Retry-After'),
          '503': err('unavailable: the queue (Redis) is unreachable; retry'),
        },
      },
    };
  }
  paths['/healthz'] = { get: { summary: 'Process alive', responses: { '200': { description: 'ok' } } } };
  paths['/readyz'] = { get: { summary: 'Redis and ClickHouse reachable', responses: { '200': { description: 'ready' }, '503': err('not ready; `checks` names what is missing') } } };
  return {
    openapi: '3.1.0',
    info: { title: 'API observability pipeline: ingest API', version: '1' },
    paths,
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A key from INGEST_API_KEYS' } } },
  };
}
