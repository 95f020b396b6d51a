import { ApiError } from './errors.js';

const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

export function isNdjson(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return NDJSON_TYPES.includes(type);
}

export function isJson(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/** A batch body: a JSON array of records, or NDJSON (one record per line). */
export function parseRecords(raw: Buffer, contentType: string | undefined): unknown[] {
  if (!isJson(contentType) && !isNdjson(contentType)) {
    throw new ApiError(
      'unsupported_media_type',
      `Content-Type must be application/json (an array of records) or application/x-ndjson, got '${contentType ?? ''}'`,
    );
  }
  const text = raw.toString('utf8');
  if (isNdjson(contentType)) {
    const records: unknown[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      try {
        records.push(JSON.parse(line));
      } catch (err) {
        throw new ApiError('invalid_json', `line ${i + 1} is not valid JSON: ${(err as Error).message}`, { line: i + 1 });
      }
    }
    return records;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ApiError('invalid_json', `body is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw new ApiError('validation_error', 'body must be a JSON array of records (or NDJSON)', {
      errors: [{ path: '', message: 'expected an array' }],
    });
  }
  return parsed;
}
