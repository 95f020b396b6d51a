import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { ApiError } from '../errors.js';
import type { Idempotency, StoredResponse } from '../idempotency.js';
import type { IngestMetrics } from '../metrics.js';
import { prepareRecords, type Prepared } from '../prepare.js';
import type { Stage } from '../stages.js';
import { Counter } from '../../lib/metrics.js';
import { decodeExport, decompress, encodingOf, readBody, type Encoding } from './decode.js';
import { mapExport, originOf, type ItemLabel, type MappingOptions, type TargetKind } from './map.js';
import type { Signal } from './model.js';
import { sendExportResponse, sendStatus } from './respond.js';

/** What the OTLP routes borrow from the ingest app, so they run the very same pipeline as /v1/logs. */
export interface OtlpDeps {
  maxBodyBytes: number;
  maxRecordsPerRequest: number;
  mapping: MappingOptions;
  stages: readonly Stage[];
  idempotency: Idempotency;
  /** API key id of an Authorization header, or null */
  identify(authorization: string | undefined): string | null;
  /** Throws 503 when Redis is down. */
  redisUp(): Promise<void>;
  /** The JSON API's enqueue: backpressure (429), the written-batch check for idempotent ids, the queue. */
  enqueue(kind: TargetKind, prepared: Prepared, batchId: string, idempotent: true): Promise<StoredResponse>;
  metrics?: IngestMetrics;
  logger?: Logger;
}

const signalPaths: Record<Signal, string> = { traces: '/otlp/v1/traces', logs: '/otlp/v1/logs' };

/**
 * OTLP/HTTP receiver: POST /otlp/v1/traces and /otlp/v1/logs (an exporter's
 * OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8080/otlp), protobuf or JSON, gzip or not.
 * Items map to request_logs / webhook_attempts records (map.ts) which then take the JSON API's
 * path: validation, stages (redaction first), backpressure, enqueue.
 */
export function otlpRouter(deps: OtlpDeps): Router {
  const items = deps.metrics?.registry.register(
    new Counter('obs_ingest_otlp_items_total', 'OTLP spans and log records by item (span kind or log_record) and outcome: mapped, ignored, rejected', ['signal', 'item', 'outcome']),
  );
  const router = Router();
  for (const signal of ['traces', 'logs'] as const) {
    router.post(signalPaths[signal], (req, res) => {
      const encoding = encodingOf(req.get('Content-Type'));
      handleExport(signal, encoding, req, res).catch((err: unknown) => {
        if (!(err instanceof ApiError)) {
          deps.logger?.error({ err, request_id: res.getHeader('X-Request-Id') }, 'otlp: unhandled error');
        }
        sendStatus(res, encoding, err instanceof ApiError ? err : new ApiError('internal_error', 'internal error; the export was not accepted'));
      });
    });
  }

  async function handleExport(signal: Signal, encoding: Encoding | undefined, req: Request, res: Response) {
    const apiKeyId = deps.identify(req.get('Authorization'));
    if (!apiKeyId) {
      req.resume();
      throw new ApiError('unauthorized', 'missing or invalid API key: send Authorization: Bearer <key> (OTEL_EXPORTER_OTLP_HEADERS)');
    }
    if (!encoding) {
      req.resume();
      throw new ApiError('unsupported_media_type', `Content-Type must be application/x-protobuf or application/json, got '${req.get('Content-Type') ?? ''}'`);
    }
    const raw = await readBody(req, deps.maxBodyBytes);
    const body = await decompress(raw, req.get('Content-Encoding'), deps.maxBodyBytes);
    const mapped = mapExport(decodeExport(signal, encoding, body), deps.mapping);

    // Exporters retry a whole batch: the same body from the same key gets the same batch ids, so a
    // retry after a lost answer or a 429 on the second kind re-queues nothing (ingest/idempotency.ts).
    const bodyHash = createHash('sha256').update(body).digest('hex');
    const receivedAt = Date.now();
    const prepared = (Object.keys(mapped.byKind) as TargetKind[]).map((kind) => {
      const batch = mapped.byKind[kind]!;
      const batchId = deps.idempotency.batchIdFor(apiKeyId, `otlp:${signal}:${kind}:${bodyHash}`);
      // the mapped records go to validation as they are: no JSON text in between (prepareRecords)
      const prepared = prepareRecords(batch.records, { kind, apiKeyId, batchId, receivedAt }, deps.maxRecordsPerRequest, deps.stages);
      return { kind, batch, batchId, prepared };
    });

    if (prepared.some((p) => p.prepared.queued)) await deps.redisUp();
    for (const p of prepared) if (p.prepared.queued) await deps.enqueue(p.kind, p.prepared, p.batchId, true);

    // The outcome is known: count items, and report the rejected ones (never a whole-batch error).
    let rejected = 0;
    let firstProblem = '';
    // tallied first, then one counter increment per label and outcome: each inc sorts and hashes its labels
    const tally = new Map<string, number>();
    const count = (label: ItemLabel, outcome: string, n = 1) => tally.set(`${label} ${outcome}`, (tally.get(`${label} ${outcome}`) ?? 0) + n);
    for (const [label, n] of Object.entries(mapped.ignored)) count(label as ItemLabel, 'ignored', n);
    for (const { batch, prepared: pr } of prepared) {
      const refused = new Set(pr.rejected.map((r) => r.index));
      batch.labels.forEach((label, i) => count(label, refused.has(i) ? 'rejected' : 'mapped'));
      rejected += pr.rejected.length;
      const first = pr.rejected[0];
      if (first && !firstProblem) {
        const e = first.errors[0];
        firstProblem = `${originOf(batch, first.index)}: ${e?.path ? `${e.path}: ` : ''}${e?.message ?? 'invalid'}`;
      }
    }
    for (const [key, n] of tally) {
      const [item, outcome] = key.split(' ') as [string, string];
      items?.inc({ signal, item, outcome }, n);
    }
    const noun = signal === 'traces' ? 'spans' : 'log records';
    sendExportResponse(res, signal, encoding, rejected, rejected ? `${rejected} of ${mapped.total} ${noun} rejected; first: ${firstProblem}` : '');
  }

  return router;
}
