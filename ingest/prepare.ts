import type { z } from 'zod';
import { kindNames, recordKinds, type RecordKind } from '../schema/records.js';
import type { Cell } from '../schema/row-mapping.js';
import { fastParseDeclines, safeParseFast } from '../schema/fast-parse.js';
import type { EncodedBatch } from '../queue/jobs.js';
import { encodeValues } from '../queue/job-rows.js';
import { ApiError } from './errors.js';
import { parseRecords } from './body.js';
import { runStages, type Stage } from './stages.js';

/**
 * A batch's CPU work, from body bytes to the job to queue: parse, validate, run the stages, map to
 * rows, encode. No I/O: the caller does Redis (idempotency, backpressure, enqueue) afterwards.
 */
export interface PrepareInput {
  kind: RecordKind;
  body: Buffer;
  contentType: string | undefined;
  apiKeyId: string;
  batchId: string;
  receivedAt: number;
}

export interface RejectedRecord {
  index: number;
  errors: { path: string; message: string }[];
}

export interface Prepared {
  /** undefined when no record is left to queue; else its job's `count` records are accepted */
  queued?: EncodedBatch;
  rejected: RejectedRecord[];
  /** of `rejected`, how many a stage refused (the rest failed validation) */
  stageRejected: number;
  dropped: number;
}

/**
 * The kinds whose records all go through zod because the fast parser cannot compile their schema
 * (after a zod upgrade, say), with why: correct but slower, so ingest warns at start-up.
 */
export function slowParseKinds(schemas: Record<string, z.ZodType> = Object.fromEntries(kindNames.map((k) => [k, recordKinds[k].schema]))) {
  return Object.entries(schemas).flatMap(([kind, schema]) => {
    const reason = fastParseDeclines(schema);
    return reason === undefined ? [] : [{ kind, reason }];
  });
}

export function prepareBatch(input: PrepareInput, maxRecords: number, stages: readonly Stage[]): Prepared {
  return prepareRecords(parseRecords(input.body, input.contentType), input, maxRecords, stages);
}

/** A batch already parsed into records (the OTLP receiver maps them from spans: no JSON text in between). */
export type RecordsInput = Omit<PrepareInput, 'body' | 'contentType'>;

/**
 * prepareBatch from parsed records. They must be what JSON.parse could have produced (plain
 * objects and arrays, strings, finite numbers, booleans, null; no undefined values), so a record
 * is validated, staged and encoded exactly as it would be from a JSON body.
 */
export function prepareRecords(records: unknown[], input: RecordsInput, maxRecords: number, stages: readonly Stage[]): Prepared {
  const { kind, apiKeyId } = input;
  if (records.length > maxRecords) {
    throw new ApiError('payload_too_large', `at most ${maxRecords} records per request, got ${records.length}`, { limit: maxRecords });
  }
  if (records.length === 0) {
    throw new ApiError('validation_error', 'the batch holds no records', { errors: [{ path: '', message: 'empty batch' }] });
  }
  const { schema, mapping } = recordKinds[kind];
  const rows: Cell[][] = [];
  const rejected: RejectedRecord[] = [];
  let dropped = 0;
  let stageRejected = 0;
  records.forEach((record, index) => {
    const parsed = safeParseFast(schema, record);
    if (parsed.success) {
      const staged = runStages(stages, parsed.data, { kind, apiKeyId }, schema as never);
      if (staged.outcome === 'keep') rows.push(mapping.toValues(staged.record as never, input.batchId));
      else if (staged.outcome === 'reject') {
        rejected.push({ index, errors: [staged.error] });
        stageRejected += 1;
      } else dropped += 1;
    } else {
      rejected.push({ index, errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
    }
  });
  return {
    ...(rows.length ? { queued: encodeValues(kind, input.batchId, input.receivedAt, mapping.columns, rows) } : {}),
    rejected,
    stageRejected,
    dropped,
  };
}
