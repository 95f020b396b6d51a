/**
 * Producer plugins: what an API imports to get its request logs, webhook attempts and link states
 * into the pipeline. See producer/README.md.
 */
import type { RequestHandler } from 'express';
import { Shipper, type ShipperOptions } from './shipper.js';
import { requestRecorder, type RequestRecorderOptions } from './middleware.js';
import { recordWebhooks, type WebhookRecorderOptions, type WebhookSend } from './webhook-recorder.js';
import type { LinkStateInput } from './ingest-client.js';

export { Shipper, type ShipperOptions, type ShipperStats } from './shipper.js';
export { requestRecorder, type RequestRecorderOptions, type Extractor, type RouteMatch } from './middleware.js';
export { recordWebhooks, describeOpenFinanceWebhook, type WebhookSend, type WebhookDescription, type WebhookRecorderOptions } from './webhook-recorder.js';
export { postBatch, defaultRetry, type IngestTarget, type RetryPolicy, type PostOutcome, type RequestLogInput, type WebhookAttemptInput, type LinkStateInput } from './ingest-client.js';

export interface Producer {
  /** Express middleware: mount it before the routes. */
  requests(options?: RequestRecorderOptions): RequestHandler;
  /** Wraps a fetch-based webhook sender; every call is recorded as one attempt. */
  webhooks(send: WebhookSend, options?: WebhookRecorderOptions): WebhookSend;
  /** Records a link's state (e.g. after a status change); the newest updated_at wins. */
  linkState(state: LinkStateInput): void;
  shipper: Shipper;
  /** Ships what is buffered and stops; call it on shutdown. */
  close(timeoutMs?: number): Promise<void>;
}

/** One shipper shared by the middleware, the webhook recorder and link states. */
export function createProducer(options: ShipperOptions): Producer {
  const shipper = new Shipper(options);
  const onError = options.onError;
  return {
    requests: (o = {}) => requestRecorder(shipper, { onError, ...o }),
    webhooks: (send, o = {}) => recordWebhooks(send, shipper, { onError, ...o }),
    linkState: (state) => shipper.record('links', state),
    shipper,
    close: (timeoutMs) => shipper.close(timeoutMs),
  };
}
