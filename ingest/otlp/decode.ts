import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Request } from 'express';
import { ApiError } from '../errors.js';
import { decodeExportRequest } from './proto-decode.js';
import { DecodeError, normalizeExport } from './normalize.js';
import type { OtlpItems, Signal } from './model.js';

const gunzipAsync = promisify(gunzip);

export type Encoding = 'protobuf' | 'json';

/** OTLP/HTTP's two encodings on one endpoint (opentelemetry-proto docs/specification.md, "OTLP/HTTP"). */
export function encodingOf(contentType: string | undefined): Encoding | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

const tooLarge = (limit: number, what: string) =>
  new ApiError('payload_too_large', `${what} is over ${limit} bytes`, { limit_bytes: limit });

/** The request body as sent (maybe compressed), refused past `limit` bytes without buffering the rest. */
export function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.get('Content-Length'));
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit, 'the body'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true; // keep reading (and dropping) so the answer reaches the client
        reject(tooLarge(limit, 'the body'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}

/**
 * Undoes Content-Encoding. The limit applies to the decompressed bytes too (the specification's
 * "including after decompression"): zlib stops at `limit`, so a gzip bomb costs at most that much memory.
 */
export async function decompress(body: Buffer, contentEncoding: string | undefined, limit: number): Promise<Buffer> {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body;
  if (encoding !== 'gzip') {
    throw new ApiError('unsupported_media_type', `Content-Encoding must be gzip or none, got '${contentEncoding}'`);
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit, 'the body after gzip decompression');
    throw new ApiError('invalid_json', `the body is not valid gzip: ${(err as Error).message}`);
  }
}

/** Bytes -> the export's spans or log records. Anything undecodable is a 400 (the client must not retry it). */
export function decodeExport(signal: Signal, encoding: Encoding, bytes: Buffer): OtlpItems {
  let message: unknown;
  try {
    if (encoding === 'json') {
      message = JSON.parse(bytes.toString('utf8'));
    } else {
      // read by hand (proto-decode.ts): ids as bytes, 64-bit integers as their halves
      message = decodeExportRequest(signal, bytes);
    }
    return normalizeExport(signal, message);
  } catch (err) {
    const what = encoding === 'json' ? 'OTLP JSON' : 'protobuf';
    const request = signal === 'traces' ? 'ExportTraceServiceRequest' : 'ExportLogsServiceRequest';
    const reason = err instanceof DecodeError ? err.message : (err as Error).message;
    throw new ApiError('validation_error', `the body is not a valid ${what} ${request}: ${reason}`, {
      errors: [{ path: err instanceof DecodeError ? reason.split(' ')[0] : '', message: reason }],
    });
  }
}
