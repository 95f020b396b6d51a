/** npm run openapi: writes docs/openapi.json from the zod schemas (a test fails when it is stale). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { openApiDocument } from '../ingest/openapi.js';

mkdirSync('docs', { recursive: true });
writeFileSync('docs/openapi.json', `${JSON.stringify(openApiDocument(), null, 2)}\n`);
console.log('wrote docs/openapi.json');
