import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { chTime } from '../schema/records.js';
import { instanceColumns, type Rule } from './rule.js';
import { evaluatorSql, sampleRequestIdsSql } from './rule-sql.js';
import { step, timingOf, type Figures, type InstanceLabels, type InstanceState, type Notice, type TransitionState } from './state-machine.js';
import { buildNotification, instanceKey, type AlertNotification } from './notification.js';
import { toAlertmanagerAlert, type AlertmanagerAlert } from './notifiers.js';
import { redisKeys } from '../queue/redis-keys.js';

/** A delivery to make, queued so a slow or failing receiver never holds up evaluation. */
export type NotificationJob =
  | { v: 1; target: 'webhook'; notification: AlertNotification }
  | { v: 1; target: 'alertmanager'; alerts: AlertmanagerAlert[] };

export interface EvaluatedInstance extends Figures {
  key: string;
  labels: InstanceLabels;
  breaching: boolean;
}

export interface TransitionRow {
  rule_uid: string;
  institution: string;
  customer_id: string;
  state: TransitionState;
  previous_state: string;
  at: string;
  active_since: string;
  window_start: string;
  window_end: string;
  requests: number;
  errors: number;
  error_ratio: number;
  baseline_ratio: number;
  threshold: number;
  sample_request_ids: string[];
}

export interface EvaluationResult {
  asOf: number;
  skipped?: 'already evaluated' | 'busy';
  instances: EvaluatedInstance[];
  transitions: TransitionRow[];
  notifications: AlertNotification[];
}

export interface EvaluatorOptions {
  rule: Rule;
  clickhouse: ClickHouseClient;
  database: string;
  redis: Redis;
  prefix: string;
  grafanaUrl: string;
  targets: { webhook: boolean; alertmanager: boolean };
  enqueue: (jobs: { id?: string; job: NotificationJob }[]) => Promise<void>;
  logger: Logger;
}

const MINUTE = 60_000;

/** Compare-and-delete: only the holder releases the lock. */
const releaseScript = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Evaluates one rule "as of" a time: the scheduled job passes the tick it runs for, tests pass
 * any time. State lives in Redis (one hash per rule uid), transitions in ClickHouse (`alerts`,
 * keyed by rule_uid), so each rule's instances, locks and notices are its own.
 * An evaluation at or before the last one is skipped, so a re-delivered job changes nothing.
 */
export class AlertEvaluator {
  private readonly keys: { instances: string; evaluatedAt: string; lock: string };

  constructor(private readonly o: EvaluatorOptions) {
    this.keys = redisKeys(o.prefix).alertRule(o.rule.uid);
  }

  get rule(): Rule {
    return this.o.rule;
  }

  /** The rule's figures per instance at a time, without touching any state. */
  async figuresAt(asOf: number): Promise<EvaluatedInstance[]> {
    const rows = await (
      await this.o.clickhouse.query({
        query: evaluatorSql(this.o.rule, this.o.database),
        query_params: { eval_time: Math.floor(asOf / 1000) },
        format: 'JSONEachRow',
      })
    ).json<Record<string, unknown>>();
    const columns = instanceColumns(this.o.rule);
    return rows.map((r) => {
      const labels: InstanceLabels = { institution: columns.includes('institution') ? String(r.institution) : '' };
      if (columns.includes('customer_id')) labels.customer_id = String(r.customer_id);
      const value = Number(r.value);
      return {
        key: instanceKey(labels),
        labels,
        requests: Number(r.requests),
        errors: Number(r.errors),
        error_ratio: Number(r.error_ratio),
        baseline_ratio: Number(r.baseline_ratio),
        threshold: Number(r.threshold),
        value,
        breaching: value > 1,
      };
    });
  }

  /** The current pending and firing instances. */
  async activeInstances(): Promise<InstanceState[]> {
    const raw = await this.o.redis.hgetall(this.keys.instances);
    return Object.values(raw).map((v) => JSON.parse(v) as InstanceState);
  }

  async evaluateAt(asOf: number): Promise<EvaluationResult> {
    const token = randomUUID();
    const empty = { asOf, instances: [], transitions: [], notifications: [] };
    if ((await this.o.redis.set(this.keys.lock, token, 'PX', 5 * MINUTE, 'NX')) !== 'OK') return { ...empty, skipped: 'busy' };
    try {
      const last = Number(await this.o.redis.get(this.keys.evaluatedAt));
      if (last && asOf <= last) return { ...empty, skipped: 'already evaluated' };
      return await this.evaluate(asOf);
    } finally {
      await this.o.redis.eval(releaseScript, 1, this.keys.lock, token);
    }
  }

  private async evaluate(asOf: number): Promise<EvaluationResult> {
    const { rule } = this.o;
    const windowEnd = Math.floor(asOf / MINUTE) * MINUTE;
    const windowStart = windowEnd - rule.windowMinutes * MINUTE;
    const instances = await this.figuresAt(asOf);
    const previous = new Map((await this.activeInstances()).map((s) => [s.key, s]));
    const current = new Map(instances.map((i) => [i.key, i]));
    const timing = timingOf(rule);
    const zero: Figures = { requests: 0, errors: 0, error_ratio: 0, baseline_ratio: 0, threshold: 0, value: 0 };

    const transitions: TransitionRow[] = [];
    const notifications: AlertNotification[] = [];
    const keep: InstanceState[] = [];
    const drop: string[] = [];
    for (const key of new Set([...previous.keys(), ...current.keys()])) {
      const prev = previous.get(key);
      const now = current.get(key);
      // An instance with no traffic in the window does not breach (Grafana's "no data = OK"), and
      // counts as below the resolve threshold.
      const figures = now ? pick(now) : { ...zero, threshold: prev?.figures.threshold ?? 0 };
      const labels = now?.labels ?? prev!.labels;
      const result = step(prev, { key, labels, breaching: now?.breaching ?? false, figures, at: asOf }, timing);
      let next = result.next;
      if (result.notice === 'firing' || result.notice === 'reminder') next = { ...next!, samples: await this.samples(labels, windowStart, windowEnd) };
      if (next) keep.push(next);
      else if (prev) drop.push(key);
      const episode = next ?? prev!;
      if (result.transition) {
        transitions.push({
          rule_uid: rule.uid,
          institution: labels.institution,
          customer_id: labels.customer_id ?? '',
          state: result.transition.state,
          previous_state: result.transition.previous,
          at: chTime(asOf),
          active_since: chTime(episode.activeAt),
          window_start: chTime(windowStart),
          window_end: chTime(windowEnd),
          requests: figures.requests,
          errors: figures.errors,
          error_ratio: figures.error_ratio,
          baseline_ratio: figures.baseline_ratio,
          threshold: figures.threshold,
          sample_request_ids: result.transition.state === 'firing' ? (next?.samples ?? []) : [],
        });
      }
      if (result.notice) notifications.push(this.notification(episode, result.notice, figures, asOf, windowStart, windowEnd));
    }

    await this.recordTransitions(transitions, asOf);
    await this.o.enqueue(this.jobs(notifications, keep, asOf, windowStart, windowEnd));
    const save = this.o.redis.multi();
    if (drop.length) save.hdel(this.keys.instances, ...drop);
    for (const s of keep) save.hset(this.keys.instances, s.key, JSON.stringify(s));
    save.set(this.keys.evaluatedAt, String(asOf));
    await save.exec();
    if (transitions.length) {
      this.o.logger.info({ rule: rule.uid, asOf: new Date(asOf).toISOString(), transitions: transitions.map((t) => `${[t.institution, t.customer_id].filter(Boolean).join('/')}: ${t.previous_state || 'normal'} -> ${t.state}`) }, 'alert state changed');
    }
    return { asOf, instances, transitions, notifications };
  }

  private notification(s: InstanceState, notice: Notice, figures: Figures, asOf: number, windowStart: number, windowEnd: number) {
    return buildNotification(this.o.rule, s, notice, {
      figures,
      evaluatedAt: asOf,
      windowStart,
      windowEnd,
      samples: notice === 'resolved' ? [] : (s.samples ?? []),
      grafanaUrl: this.o.grafanaUrl,
    });
  }

  /** Evidence from the raw logs: only for an instance that fires, so the cost stays per alert. */
  private async samples(labels: InstanceLabels, windowStart: number, windowEnd: number): Promise<string[]> {
    const rows = await (
      await this.o.clickhouse.query({
        query: sampleRequestIdsSql(this.o.rule, this.o.database),
        query_params: { window_start_ms: windowStart, window_end_ms: windowEnd, institution: labels.institution, customer_id: labels.customer_id ?? '' },
        format: 'JSONEachRow',
      })
    ).json<{ request_id: string }>();
    return rows.map((r) => r.request_id);
  }

  private async recordTransitions(rows: TransitionRow[], asOf: number) {
    if (!rows.length) return;
    await this.o.clickhouse.insert({
      table: `${this.o.database}.alerts`,
      values: rows,
      format: 'JSONEachRow',
      // Sent on every insert: the embedded engine keeps settings on its session.
      clickhouse_settings: {
        insert_deduplicate: 1,
        insert_deduplication_token: `alerts:${this.o.rule.uid}:${asOf}`,
        input_format_skip_unknown_fields: 0,
        date_time_input_format: 'basic',
      },
    });
  }

  private jobs(notices: AlertNotification[], active: InstanceState[], asOf: number, windowStart: number, windowEnd: number) {
    const jobs: { id?: string; job: NotificationJob }[] = [];
    if (this.o.targets.webhook) {
      for (const n of notices) jobs.push({ id: jobId('webhook', n.id), job: { v: 1, target: 'webhook', notification: n } });
    }
    if (this.o.targets.alertmanager) {
      // Every firing instance each evaluation (its lease), plus the ones that just resolved.
      const lease = Math.max(asOf, Date.now()) + 4 * this.o.rule.evalIntervalSeconds * 1000;
      const firing = active.filter((s) => s.state === 'firing').map((s) => this.notification(s, 'firing', s.figures, asOf, windowStart, windowEnd));
      const alerts = [...firing, ...notices.filter((n) => n.status === 'resolved')].map((n) => toAlertmanagerAlert(n, lease, this.o.rule.alertname));
      if (alerts.length) jobs.push({ id: jobId('alertmanager', `${this.o.rule.uid}/${asOf}`), job: { v: 1, target: 'alertmanager', alerts } });
    }
    return jobs;
  }
}

/** BullMQ job ids may not contain ':' (institutions may): a digest of the notice id. */
const jobId = (target: string, id: string) => `${target}-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;

const pick = (i: EvaluatedInstance): Figures => ({
  requests: i.requests,
  errors: i.errors,
  error_ratio: i.error_ratio,
  baseline_ratio: i.baseline_ratio,
  threshold: i.threshold,
  value: i.value,
});
