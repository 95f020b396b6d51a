import * as alerting from '@grafana/grafana-foundation-sdk/alerting';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as expr from '@grafana/grafana-foundation-sdk/expr';
import { defaultRule, type ErrorRateRule } from '../alerting/rule.js';
import { grafanaRuleSql, lookbackSeconds } from '../alerting/rule-sql.js';
import { conditionText } from '../alerting/notification.js';
import { clickhouseDatasourceUid, clickhousePluginId, clickhousePluginVersion, normaliseSql, QueryFormat, sql } from './clickhouse-query.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import type { InsightsSection } from './insights.js';
import { row, tablePanel } from './panels.js';
import { dashboardFolder } from './provisioning.js';
import { anyOf, allOf } from './sql-filters.js';
import { toYaml } from './yaml.js';

/**
 * The error-rate rule (alerting/rule.ts) as Grafana-managed alerting, in file-provisioning shape,
 * and the Insights section that shows the built-in evaluator's alert history.
 */

/** Grafana expands ${...} in contact point settings from its environment. */
export const alertContactPoint = { name: 'API observability webhook', uid: 'api-observability-webhook', urlEnv: 'GRAFANA_ALERT_WEBHOOK_URL' } as const;
export const alertRuleGroupName = 'error-rate';

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
      pluginVersion: clickhousePluginVersion,
      intervalMs: this.intervalMs,
    };
    // The marker method only satisfies the SDK's type; JSON.stringify drops it.
    return { ...model, _implementsDataqueryVariant() {} };
  }
}

const expressionQuery = (refId: string, model: cog.Builder<cog.Dataquery>) =>
  new alerting.QueryBuilder(refId).datasourceUid('__expr__').model(model);

/** The rule group as the SDK builds it (the HTTP provisioning API's shape). */
export function errorRateRuleGroup(rule: ErrorRateRule = defaultRule): alerting.RuleGroup {
  const windowAndBaseline = lookbackSeconds(rule);
  return new alerting.RuleGroupBuilder(alertRuleGroupName)
    .folderUid(dashboardFolder.uid)
    .interval(rule.evalIntervalSeconds)
    .withRule(
      new alerting.RuleBuilder(rule.title)
        .uid(rule.uid)
        .ruleGroup(alertRuleGroupName)
        .folderUID(dashboardFolder.uid)
        .orgID(1)
        .condition('C')
        .withQuery(
          new alerting.QueryBuilder('A')
            .datasourceUid(clickhouseDatasourceUid)
            .relativeTimeRange({ from: windowAndBaseline, to: 0 })
            .model(new AlertSqlQuery('A', grafanaRuleSql(rule), 60_000)),
        )
        // One row per institution: `value` is the error ratio over the threshold it must exceed.
        .withQuery(expressionQuery('B', new expr.TypeReduceBuilder().refId('B').expression('A').reducer('last')))
        .withQuery(
          expressionQuery('C', new expr.TypeThresholdBuilder().refId('C').expression('B').conditions([{ evaluator: { type: 'gt', params: [1] } }])),
        )
        .forDuration(`${rule.forSeconds}s`)
        .noDataState('OK')
        .execErrState('Error')
        .labels({ severity: rule.severity })
        .annotations({
          summary: `{{ $labels.institution }}: error ratio at {{ printf "%.2f" $values.B.Value }}x its alert threshold over the last ${rule.windowMinutes} minutes`,
          description: conditionText(rule),
          __dashboardUid__: dashboardUids.insights,
          // "Error rate per institution" on Insights
          __panelId__: '9',
        }),
    )
    .build();
}

/** Seconds as the Prometheus-style duration Grafana's file provisioning reads. */
const duration = (seconds: number) => `${seconds}s`;

/**
 * The SDK's objects mapped to Grafana's alerting file-provisioning format (title -> name,
 * numeric interval -> "60s", no folderUID/orgID/ruleGroup per rule), with the contact point and
 * a notification policy tree that routes this rule to it, per institution.
 */
export function alertingProvisioning(rule: ErrorRateRule = defaultRule) {
  const group = errorRateRuleGroup(rule);
  const contactPoint = new alerting.ContactPointBuilder()
    .uid(alertContactPoint.uid)
    .name(alertContactPoint.name)
    .type('webhook')
    .settings({ url: `\${${alertContactPoint.urlEnv}}`, httpMethod: 'POST' })
    .disableResolveMessage(false)
    .build();
  const perInstitution = new alerting.NotificationPolicyBuilder()
    .receiver(alertContactPoint.name)
    .objectMatchers([['__alert_rule_uid__', '=', rule.uid]])
    .groupBy(['alertname', 'institution', ...(rule.perCustomer ? ['customer_id'] : [])])
    .groupWait('30s')
    .groupInterval('5m')
    .repeatInterval(rule.reminderMinutes > 0 ? `${rule.reminderMinutes}m` : '24h');
  const policy = new alerting.NotificationPolicyBuilder()
    .receiver(alertContactPoint.name)
    .groupBy(['grafana_folder', 'alertname'])
    .routes([perInstitution])
    .build();

  const file = {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: group.title!,
        folder: dashboardFolder.title,
        interval: duration(group.interval!),
        rules: (group.rules ?? []).map(({ folderUID: _f, orgID: _o, ruleGroup: _g, ...r }) => ({
          uid: r.uid!,
          title: r.title,
          condition: r.condition,
          for: r.for,
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
      },
    ],
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
  anyOf('institution', 'institution'),
  // A per-institution rule has no customer: its alerts show whatever customer is selected.
  `(customer_id = '' OR ${anyOf('customer_id', 'customer')})`,
);

export const alertHistorySql = `
  SELECT
    at AS time,
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
  SELECT institution, customer_id, firing_since, error_ratio, baseline_ratio, requests, errors
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
          description: 'Error-rate alerts of the built-in evaluator that are firing, with the figures they fired on. Click an institution for its requests in Logs.',
          query: sql(firingNowSql),
          height: 6,
        }),
      ).overrideByName('institution', columnLink('Show its requests', toLogs)),
      ratioColumns(
        tablePanel({
          id: 111,
          title: 'Alert history',
          description: 'Every state change of the error-rate alerts (pending, firing, resolved; normal = a pending alert that cleared), with its figures and sample failing request_ids.',
          query: sql(alertHistorySql),
          height: 10,
        }),
      ).overrideByName('institution', columnLink('Show its requests', toLogs)),
    ],
  };
}
