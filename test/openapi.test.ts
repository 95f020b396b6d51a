import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../ingest/openapi.js';

describe('docs/openapi.json', () => {
  it('is what `npm run openapi` generates from the zod schemas now', () => {
    const committed = JSON.parse(readFileSync('docs/openapi.json', 'utf8'));
    expect(committed, 'docs/openapi.json is stale: run npm run openapi').toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('documents every required field of the request log', () => {
    const log = openApiDocument().components.schemas.RequestLog as { required: string[] };
    expect(log.required.sort()).toEqual(['endpoint', 'method', 'request_id', 'status_code', 'timestamp']);
  });
});
