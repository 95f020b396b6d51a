import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, secondsBuckets } from '../lib/metrics.js';

/** Ingest's Prometheus metrics: requests, records accepted/rejected, errors by reason, queue depth. */
export function createIngestMetrics(queueDepth: () => Promise<number>) {
  const registry = new Registry();
  const requests = registry.register(new Counter('obs_ingest_requests_total', 'HTTP requests by route and status', ['route', 'status']));
  const duration = registry.register(new Histogram('obs_ingest_request_seconds', 'HTTP request duration', secondsBuckets, ['route']));
  const records = registry.register(new Counter('obs_ingest_records_total', 'Records by endpoint and outcome: accepted, rejected_invalid, rejected_by_stage, dropped_by_stage', ['endpoint', 'outcome']));
  const stages = registry.register(
    new Histogram('obs_ingest_stage_seconds', "Where a batch request's time went (its Server-Timing): body, prepare, each Redis wait (claim, limits, lookup, enqueue, store), total", secondsBuckets, ['stage']),
  );
  const errors = registry.register(new Counter('obs_ingest_errors_total', 'Error responses by code', ['code']));
  registry.register(new Gauge('obs_ingest_queue_jobs', 'Jobs not yet written (as seen by the backpressure check)', async () => [{ value: await queueDepth() }]));

  return {
    registry,
    records,
    stages,
    /** Counts every response once it is sent; the route is the matched path, never the raw URL. */
    middleware(req: Request, res: Response, next: NextFunction) {
      const t0 = performance.now();
      res.on('finish', () => {
        const route = (req.route?.path as string | undefined) ?? (req.path === '/healthz' || req.path === '/readyz' ? req.path : 'other');
        requests.inc({ route, status: String(res.statusCode) });
        duration.observe((performance.now() - t0) / 1000, { route });
        const code = res.locals.errorCode as string | undefined;
        if (code) errors.inc({ code });
      });
      next();
    },
  };
}
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
