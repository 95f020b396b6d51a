import * as alerting from '@grafana/grafana-foundation-sdk/alerting';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as expr from '@grafana/grafana-foundation-sdk/expr';
import { instanceColumns, rules as allRules, type Rule } from '../alerting/rule.js';
import { grafanaRuleSql, lookbackSeconds } from '../alerting/rule-sql.js';
import { conditionText } from '../alerting/notification.js';
import { clickhouseDatasourceUid, clickhousePluginId, clickhousePluginVersion, normaliseSql, QueryFormat, queryTypeOf, sql } from './clickhouse-query.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import type { InsightsSection } from './insights.js';
import { row, tablePanel } from './panels.js';
import { dashboardFolder } from './provisioning.js';
import { anyOf, allOf } from './sql-filters.js';
import { toYaml } from './yaml.js';

/**
 * The alert rules (alerting/rule.ts) as Grafana-managed alerting, in file-provisioning shape (one
 * rule group per rule), and the Insights section that shows the built-in evaluator's alert history.
 * Targets Grafana 12.2 (the version compose pins).
 */

/** Grafana expands ${...} in contact point settings from its environment. */
export const alertContactPoint = { name: 'API observability webhook', uid: 'api-observability-webhook', urlEnv: 'GRAFANA_ALERT_WEBHOOK_URL' } as const;

/** Where a rule's notification links: the panel that shows what it measures. */
const rulePanel: Record<Rule['kind'], { dashboardUid: string; panelId?: string }> = {
  // "Error rate per institution" on Insights
  'error-rate': { dashboardUid: dashboardUids.insights, panelId: '9' },
  'token-required': { dashboardUid: dashboardUids.insights },
  // "Failed deliveries" on Events
  'webhook-failures': { dashboardUid: dashboardUids.events, panelId: '2' },
};

const whoTemplate = (rule: Rule) => instanceColumns(rule).map((c) => `{{ $labels.${c} }}`).join('/');
const measureName: Record<Rule['kind'], string> = {
  'error-rate': 'error ratio',
  'token-required': 'token_required share',
  'webhook-failures': 'failed delivery share',
};

/**
 * An alert query for the ClickHouse plugin. Unlike a panel target it names the datasource by uid:
 * dashboard variables do not exist in alert rules.
 */
class AlertSqlQuery implements cog.Builder<cog.Dataquery> {
  constructor(
    private readonly refId: string,
    private readonly rawSql: string,
    private readonly intervalMs: number,
  ) {}

  build(): cog.Dataquery {
    const model = {
      refId: this.refId,
      datasource: { type: clickhousePluginId, uid: clickhouseDatasourceUid },
      editorType: 'sql',
      rawSql: normaliseSql(this.rawSql),
      format: QueryFormat.Table,
      // as on panels: the plugin's editor rewrites format from queryType when the rule's query is edited
      queryType: queryTypeOf[QueryFormat.Table],
      pluginVersion: clickhousePluginVersion,
      intervalMs: this.intervalMs,
    };
    // The marker method only satisfies the SDK's type; JSON.stringify drops it.
    return { ...model, _implementsDataqueryVariant() {} };
  }
}

const expressionQuery = (refId: string, model: cog.Builder<cog.Dataquery>) =>
  new alerting.QueryBuilder(refId).datasourceUid('__expr__').model(model);

/**
 * A rule's group as the SDK builds it (the HTTP provisioning API's shape).
 *
 * Condition C is a threshold straight on query A: A returns one row per instance (labels + `value`),
 * which Grafana's SSE turns into a number set, and a reduce over a number set is a no-op that
 * only adds a "Reduce operation is not needed" notice (pkg/expr/commands.go, ReduceCommand.Execute,
 * case mathexp.Number), so there is none.
 *
 * Hysteresis, the closest Grafana 12.2 allows to the evaluator's: the threshold's recovery
 * threshold (`unloadEvaluator`: a firing instance stays firing until value < resolve.below;
 * pkg/expr/threshold.go UnmarshalThresholdCommand -> HysteresisCommand, behind the
 * recoveryThreshold feature toggle, GA and on by default per pkg/services/featuremgmt/toggles_gen.csv) plus `keep_firing_for` = resolve.afterSeconds (it must stay
 * below that long). An instance whose row disappears (no traffic) resolves after
 * `missing_series_evals_to_resolve` evaluations, set to the same time. Both fields are read by
 * file provisioning (pkg/services/provisioning/alerting/rules_types.go, AlertRuleV1).
 */
export function ruleGroup(rule: Rule): alerting.RuleGroup {
  const panel = rulePanel[rule.kind];
  return new alerting.RuleGroupBuilder(rule.group)
    .folderUid(dashboardFolder.uid)
    .interval(rule.evalIntervalSeconds)
    .withRule(
      new alerting.RuleBuilder(rule.title)
        .uid(rule.uid)
        .ruleGroup(rule.group)
        .folderUID(dashboardFolder.uid)
        .orgID(1)
        .condition('C')
        .withQuery(
          new alerting.QueryBuilder('A')
            .datasourceUid(clickhouseDatasourceUid)
            .relativeTimeRange({ from: lookbackSeconds(rule), to: 0 })
            .model(new AlertSqlQuery('A', grafanaRuleSql(rule), 60_000)),
        )
        // One row per instance: `value` is the ratio over the threshold it must exceed.
        .withQuery(
          expressionQuery(
            'C',
            new expr.TypeThresholdBuilder()
              .refId('C')
              .expression('A')
              .conditions([{ evaluator: { type: 'gt', params: [1] }, unloadEvaluator: { type: 'lt', params: [rule.resolve.below] } }]),
          ),
        )
        .forDuration(`${rule.forSeconds}s`)
        .keepFiringFor(`${rule.resolve.afterSeconds}s`)
        .missingSeriesEvalsToResolve(missingEvalsToResolve(rule))
        .noDataState('OK')
        .execErrState('Error')
        .labels({ severity: rule.severity })
        .annotations({
          summary: `${whoTemplate(rule)}: ${measureName[rule.kind]} at {{ printf "%.2f" $values.A.Value }}x its alert threshold over the last ${rule.windowMinutes} minutes`,
          description: conditionText(rule),
          __dashboardUid__: panel.dashboardUid,
          ...(panel.panelId ? { __panelId__: panel.panelId } : {}),
        }),
    )
    .build();
}

/** Evaluations an absent instance needs to resolve: the first absent one plus the resolve time. */
const missingEvalsToResolve = (rule: Rule) => Math.max(1, Math.ceil(rule.resolve.afterSeconds / rule.evalIntervalSeconds) + 1);

/** Seconds as the Prometheus-style duration Grafana's file provisioning reads. */
const duration = (seconds: number) => `${seconds}s`;

/**
 * The SDK's objects mapped to Grafana's alerting file-provisioning format (title -> name,
 * numeric interval -> "60s", keep_firing_for -> keepFiringFor, no folderUID/orgID/ruleGroup per
 * rule), with the contact point and a notification policy tree that routes each rule to it, per
 * instance.
 */
export function alertingProvisioning(rules: readonly Rule[] = allRules) {
  const contactPoint = new alerting.ContactPointBuilder()
    .uid(alertContactPoint.uid)
    .name(alertContactPoint.name)
    .type('webhook')
    .settings({ url: `\${${alertContactPoint.urlEnv}}`, httpMethod: 'POST' })
    .disableResolveMessage(false)
    .build();
  const perInstance = (rule: Rule) =>
    new alerting.NotificationPolicyBuilder()
      .receiver(alertContactPoint.name)
      .objectMatchers([['__alert_rule_uid__', '=', rule.uid]])
      .groupBy(['alertname', ...instanceColumns(rule)])
      .groupWait('30s')
      .groupInterval('5m')
      .repeatInterval(rule.reminderMinutes > 0 ? `${rule.reminderMinutes}m` : '24h');
  const policy = new alerting.NotificationPolicyBuilder()
    .receiver(alertContactPoint.name)
    .groupBy(['grafana_folder', 'alertname'])
    .routes(rules.map(perInstance))
    .build();

  const file = {
    apiVersion: 1,
    groups: rules.map((rule) => {
      const group = ruleGroup(rule);
      return {
        orgId: 1,
        name: group.title!,
        folder: dashboardFolder.title,
        interval: duration(group.interval!),
        rules: (group.rules ?? []).map(({ folderUID: _f, orgID: _o, ruleGroup: _g, ...r }) => ({
          uid: r.uid!,
          title: r.title,
          condition: r.condition,
          for: r.for,
          keepFiringFor: r.keep_firing_for,
          missing_series_evals_to_resolve: r.missingSeriesEvalsToResolve,
          noDataState: r.noDataState,
          execErrState: r.execErrState,
          labels: r.labels ?? {},
          annotations: r.annotations ?? {},
          data: r.data.map((q) => ({
            refId: q.refId!,
            datasourceUid: q.datasourceUid!,
            ...(q.relativeTimeRange ? { relativeTimeRange: { from: q.relativeTimeRange.from ?? 0, to: q.relativeTimeRange.to ?? 0 } } : {}),
            model: q.model!,
          })),
        })),
      };
    }),
    contactPoints: [
      {
        orgId: 1,
        name: contactPoint.name!,
        receivers: [{ uid: contactPoint.uid!, type: contactPoint.type, settings: contactPoint.settings, disableResolveMessage: contactPoint.disableResolveMessage ?? false }],
      },
    ],
    policies: [{ orgId: 1, ...policy }],
  };
  // Drops the SDK's marker methods and undefined fields: what remains is plain YAML-able data.
  return JSON.parse(JSON.stringify(file)) as typeof file;
}

/** The provisioning file Grafana reads from its alerting provisioning folder. */
export function alertingProvisioningYaml(header?: string): string {
  return toYaml(alertingProvisioning() as unknown as Parameters<typeof toYaml>[0], header);
}

/** Alert history, from the `alerts` table the built-in evaluator writes. */
const alertFilters = allOf(
  // A per-customer rule (webhook deliveries) has no institution, a per-institution rule no
  // customer: their alerts show whatever institution / customer is selected.
  `(institution = '' OR ${anyOf('institution', 'institution')})`,
  `(customer_id = '' OR ${anyOf('customer_id', 'customer')})`,
);

export const alertHistorySql = `
  SELECT
    at AS time,
    rule_uid,
    institution,
    customer_id,
    state,
    previous_state,
    error_ratio,
    baseline_ratio,
    threshold,
    requests,
    errors,
    arrayStringConcat(sample_request_ids, ' ') AS sample_request_ids
  FROM alerts FINAL
  WHERE $__timeFilter_ms(at)
    AND ${alertFilters}
  ORDER BY at DESC, institution, customer_id
  LIMIT 500`;

/** Current state, whatever the time range: an alert that fired last week and still fires shows. */
export const firingNowSql = `
  SELECT rule_uid, institution, customer_id, firing_since, error_ratio, baseline_ratio, requests, errors
  FROM
  (
    SELECT
      rule_uid, institution, customer_id,
      argMax(state, at) AS last_state,
      max(at) AS firing_since,
      argMax(error_ratio, at) AS error_ratio,
      argMax(baseline_ratio, at) AS baseline_ratio,
      argMax(requests, at) AS requests,
      argMax(errors, at) AS errors
    FROM alerts FINAL
    WHERE ${alertFilters}
    GROUP BY rule_uid, institution, customer_id
  )
  WHERE last_state = 'firing'
  ORDER BY firing_since DESC`;

const ratioColumns = (panel: ReturnType<typeof tablePanel>) =>
  ['error_ratio', 'baseline_ratio', 'threshold'].reduce((p, name) => p.overrideByName(name, [{ id: 'unit', value: 'percentunit' }]), panel);

export function alertHistorySection(): InsightsSection {
  const toLogs = drillDownUrl(dashboardUids.insights, dashboardUids.logs, { institution: '${__value.raw}' });
  return {
    row: row(102, 'Alerts'),
    panels: [
      ratioColumns(
        tablePanel({
          id: 110,
          title: 'Alerts firing now',
          description: 'Alerts of the built-in evaluator that are firing, per rule, with the figures they fired on (error_ratio is the rule\'s ratio: errors, token_required answers or failed webhook attempts). Click an institution for its requests in Logs.',
          query: sql(firingNowSql),
          height: 6,
        }),
      ).overrideByName('institution', columnLink('Show its requests', toLogs)),
      ratioColumns(
        tablePanel({
          id: 111,
          title: 'Alert history',
          description: 'Every state change of the alert rules (pending, firing, resolved; normal = a pending alert that cleared), with its figures and evidence ids (request_ids; webhook_ids for the webhook rule).',
          query: sql(alertHistorySql),
          height: 10,
        }),
      ).overrideByName('institution', columnLink('Show its requests', toLogs)),
    ],
  };
}
