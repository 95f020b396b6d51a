import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { workerRedis } from '../queue/jobs.js';
import { AlertEvaluator, type NotificationJob } from './evaluator.js';
import { sendToAlertmanager, sendWebhook } from './notifiers.js';
import { ruleFromConfig, type ErrorRateRule } from './rule.js';

/** When a job scheduler's job was due (its id is `repeat:<scheduler>:<millis>`); now if unknown. */
export function scheduledAt(jobId: string | undefined, now = Date.now()): number {
  const millis = Number(jobId?.slice(jobId.lastIndexOf(':') + 1));
  return Number.isFinite(millis) && millis > 0 ? millis : now;
}

/** The evaluation ticks (one repeatable job) and the deliveries, each on its own queue. */
export const ALERTS_QUEUE = 'alerts';
export const ALERT_NOTIFICATIONS_QUEUE = 'alert-notifications';
const SCHEDULER_ID = 'evaluate-error-rate';

export interface AlertingRuntime {
  evaluator: AlertEvaluator;
  notifications: Queue<NotificationJob>;
  stop(): Promise<void>;
}

export interface AlertingOptions {
  config: Config;
  clickhouse: ClickHouseClient;
  logger: Logger;
  /** Tests evaluate at chosen times instead of on the clock. */
  schedule?: boolean;
  rule?: ErrorRateRule;
}

/**
 * Runs in the workers when ALERTS_ENABLED: a BullMQ job scheduler ticks every evaluation interval
 * (whichever worker takes the tick evaluates; a Redis lock keeps two from overlapping), and a
 * delivery worker sends the notices with retries, so a dead receiver never delays evaluation.
 */
export async function startAlerting(o: AlertingOptions): Promise<AlertingRuntime> {
  const { config, logger } = o;
  if (!config.REDIS_URL) throw new Error('REDIS_URL is required');
  const rule = o.rule ?? ruleFromConfig(config);
  const redis = workerRedis(config.REDIS_URL);
  const prefix = config.QUEUE_PREFIX;

  const notifications = new Queue<NotificationJob>(ALERT_NOTIFICATIONS_QUEUE, { connection: redis, prefix });
  const evaluator = new AlertEvaluator({
    rule,
    clickhouse: o.clickhouse,
    database: config.CLICKHOUSE_DATABASE,
    redis,
    prefix,
    grafanaUrl: config.GRAFANA_URL,
    targets: { webhook: Boolean(config.ALERT_WEBHOOK_URL), alertmanager: Boolean(config.ALERTMANAGER_URL) },
    logger,
    enqueue: async (jobs) => {
      if (!jobs.length) return;
      await notifications.addBulk(
        jobs.map(({ id, job }) => ({
          name: job.target,
          data: job,
          opts: {
            // A stable id per notice: an evaluation re-run after a crash does not notify twice.
            jobId: id,
            // Webhook notices retry for about an hour (1 s doubling); Alertmanager gets a fresh lease next tick anyway.
            attempts: job.target === 'webhook' ? 12 : 3,
            backoff: { type: 'exponential', delay: 1000 },
            removeOnComplete: { age: 24 * 3600, count: 10_000 },
            removeOnFail: { count: 1000 },
          },
        })),
      );
    },
  });

  const deliver = async (job: Job<NotificationJob>) => {
    const data = job.data;
    if (data.target === 'webhook' && config.ALERT_WEBHOOK_URL) {
      await sendWebhook({ url: config.ALERT_WEBHOOK_URL, secret: config.ALERT_WEBHOOK_SECRET }, data.notification);
    } else if (data.target === 'alertmanager' && config.ALERTMANAGER_URL) {
      await sendToAlertmanager({ url: config.ALERTMANAGER_URL }, data.alerts);
    }
  };
  const deliveries = new Worker<NotificationJob>(ALERT_NOTIFICATIONS_QUEUE, deliver, {
    connection: workerRedis(config.REDIS_URL),
    prefix,
    concurrency: 4,
  });
  deliveries.on('failed', (job, err) =>
    logger.warn({ notification: job?.id, attempt: job?.attemptsMade, err: err.message }, 'alert delivery failed; retrying with backoff'),
  );
  deliveries.on('error', (err) => logger.error({ err: err.message }, 'alert delivery worker error'));

  let ticks: Queue | undefined;
  let evaluations: Worker | undefined;
  if (o.schedule !== false) {
    const intervalMs = rule.evalIntervalSeconds * 1000;
    ticks = new Queue(ALERTS_QUEUE, { connection: redis, prefix });
    await ticks.upsertJobScheduler(SCHEDULER_ID, { every: intervalMs }, {
      name: 'evaluate',
      data: { v: 1 },
      opts: { removeOnComplete: true, removeOnFail: { count: 100 } },
    });
    evaluations = new Worker(
      ALERTS_QUEUE,
      // The tick this run belongs to, so every worker agrees on the evaluation times: the time it was
      // scheduled for (a scheduler's job id ends with it), not when it ran. A tick that runs late
      // under load still evaluates its own time, so none is skipped and `for` counts whole ticks.
      async (job) => evaluator.evaluateAt(Math.floor(scheduledAt(job.id) / intervalMs) * intervalMs),
      { connection: workerRedis(config.REDIS_URL), prefix, concurrency: 1 },
    );
    evaluations.on('failed', (_job, err) => logger.error({ err: err.message }, 'alert evaluation failed; the next tick retries'));
    evaluations.on('error', (err) => logger.error({ err: err.message }, 'alert evaluation worker error'));
  }
  logger.info({ rule: rule.uid, intervalS: rule.evalIntervalSeconds, scheduled: o.schedule !== false, webhook: Boolean(config.ALERT_WEBHOOK_URL), alertmanager: Boolean(config.ALERTMANAGER_URL) }, 'alerting started');

  return {
    evaluator,
    notifications,
    async stop() {
      await evaluations?.close();
      await deliveries.close();
      await ticks?.close();
      await notifications.close();
      redis.disconnect();
    },
  };
}
