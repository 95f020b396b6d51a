import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { workerRedis } from '../queue/jobs.js';
import { AlertEvaluator, type NotificationJob } from './evaluator.js';
import { sendToAlertmanager, sendWebhook } from './notifiers.js';
import { rulesFromConfig, type Rule } from './rule.js';

/** When a job scheduler's job was due (its id is `repeat:<scheduler>:<millis>`); now if unknown. */
export function scheduledAt(jobId: string | undefined, now = Date.now()): number {
  const millis = Number(jobId?.slice(jobId.lastIndexOf(':') + 1));
  return Number.isFinite(millis) && millis > 0 ? millis : now;
}

/** The evaluation ticks (one job scheduler per rule) and the deliveries, each on its own queue. */
export const ALERTS_QUEUE = 'alerts';
export const ALERT_NOTIFICATIONS_QUEUE = 'alert-notifications';
/** BullMQ job ids may not contain ':' and a scheduler's jobs are named after it: uids are [a-z0-9-]. */
export const schedulerId = (rule: Pick<Rule, 'uid'>) => `evaluate-${rule.uid}`;
/** The one scheduler of the single-rule version; removed at start so it cannot tick without a rule. */
const LEGACY_SCHEDULER_ID = 'evaluate-error-rate';

/** A tick's payload: which rule to evaluate. */
interface TickJob {
  v: 1;
  rule?: string;
}

export interface AlertingRuntime {
  /** The first rule's evaluator (the error-rate rule by default). */
  evaluator: AlertEvaluator;
  /** One evaluator per rule, by uid. */
  evaluators: Map<string, AlertEvaluator>;
  notifications: Queue<NotificationJob>;
  stop(): Promise<void>;
}

export interface AlertingOptions {
  config: Config;
  clickhouse: ClickHouseClient;
  logger: Logger;
  /** Tests evaluate at chosen times instead of on the clock. */
  schedule?: boolean;
  /** Default: every rule of alerting/rule.ts with the ALERT_* settings applied. */
  rules?: readonly Rule[];
}

/**
 * Runs in the workers when ALERTS_ENABLED: one BullMQ job scheduler per rule ticks every
 * evaluation interval of that rule (whichever worker takes the tick evaluates; a Redis lock per
 * rule keeps two from overlapping), and a delivery worker sends the notices with retries, so a
 * dead receiver never delays evaluation.
 */
export async function startAlerting(o: AlertingOptions): Promise<AlertingRuntime> {
  const { config, logger } = o;
  if (!config.REDIS_URL) throw new Error('REDIS_URL is required');
  const rules = o.rules ?? rulesFromConfig(config);
  if (!rules.length) throw new Error('no alert rules');
  if (new Set(rules.map((r) => r.uid)).size !== rules.length) throw new Error('alert rule uids must be unique');
  const redis = workerRedis(config.REDIS_URL);
  const prefix = config.QUEUE_PREFIX;

  const notifications = new Queue<NotificationJob>(ALERT_NOTIFICATIONS_QUEUE, { connection: redis, prefix });
  const enqueue = async (jobs: { id?: string; job: NotificationJob }[]) => {
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
  };
  const evaluatorFor = (rule: Rule) =>
    new AlertEvaluator({
      rule,
      clickhouse: o.clickhouse,
    database: config.CLICKHOUSE_DATABASE,
    redis,
    prefix,
    grafanaUrl: config.GRAFANA_URL,
    targets: { webhook: Boolean(config.ALERT_WEBHOOK_URL), alertmanager: Boolean(config.ALERTMANAGER_URL) },
    logger,
    enqueue,
  });
  const evaluators = new Map(rules.map((r) => [r.uid, evaluatorFor(r)]));

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

  let ticks: Queue<TickJob> | undefined;
  let evaluations: Worker<TickJob> | undefined;
  if (o.schedule !== false) {
    ticks = new Queue<TickJob>(ALERTS_QUEUE, { connection: redis, prefix });
    await ticks.removeJobScheduler(LEGACY_SCHEDULER_ID);
    for (const rule of rules) {
      await ticks.upsertJobScheduler(schedulerId(rule), { every: rule.evalIntervalSeconds * 1000 }, {
        name: 'evaluate',
        data: { v: 1, rule: rule.uid },
        opts: { removeOnComplete: true, removeOnFail: { count: 100 } },
      });
    }
    evaluations = new Worker<TickJob>(
      ALERTS_QUEUE,
      async (job) => {
        const evaluator = evaluators.get(job.data.rule ?? rules[0]!.uid);
        // A tick of a rule no longer in the list (its scheduler outlived a deploy): nothing to do.
        if (!evaluator) return;
        const intervalMs = evaluator.rule.evalIntervalSeconds * 1000;
        // The tick this run belongs to, so every worker agrees on the evaluation times: the time it was
        // scheduled for (a scheduler's job id ends with it), not when it ran. A tick that runs late
        // under load still evaluates its own time, so none is skipped and `for` counts whole ticks.
        return evaluator.evaluateAt(Math.floor(scheduledAt(job.id) / intervalMs) * intervalMs);
      },
      { connection: workerRedis(config.REDIS_URL), prefix, concurrency: 1 },
    );
    evaluations.on('failed', (job, err) => logger.error({ rule: job?.data.rule, err: err.message }, 'alert evaluation failed; the next tick retries'));
    evaluations.on('error', (err) => logger.error({ err: err.message }, 'alert evaluation worker error'));
  }
  logger.info(
    { rules: rules.map((r) => `${r.uid} every ${r.evalIntervalSeconds}s`), scheduled: o.schedule !== false, webhook: Boolean(config.ALERT_WEBHOOK_URL), alertmanager: Boolean(config.ALERTMANAGER_URL) },
    'alerting started',
  );

  return {
    evaluator: evaluators.get(rules[0]!.uid)!,
    evaluators,
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
