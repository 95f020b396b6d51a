import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { accessModes, httpMethods, linkStatuses } from '../schema/records.js';
import { clickhouseDatasourceUid, clickhousePluginId, datasourceFromVariable, normaliseSql } from './clickhouse-query.js';
import { afterLastWholeHour, firstWholeHourIn } from './shared-sql.js';

/**
 * The template variables, defined once: a filter has the same name, values and label on every
 * dashboard, which is what lets links between dashboards carry it.
 */

const all: dashboard.VariableOption = { text: ['All'], value: ['$__all'] };

/** A multi-value dropdown with All whose options come from ClickHouse. */
function queryDropdown(name: string, label: string, rawSql: string, sort = dashboard.VariableSort.AlphabeticalAsc) {
  const query = normaliseSql(rawSql);
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(datasourceFromVariable)
    .query({ editorType: 'sql', rawSql: query })
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(sort)
    .multi(true)
    .includeAll(true)
    .allowCustomValue(false)
    .current(all);
}

/** A multi-value dropdown with All over a fixed list (the values our schema allows). */
function fixedDropdown(name: string, label: string, values: readonly string[]) {
  return new dashboard.CustomVariableBuilder(name)
    .label(label)
    .values(values.join(','))
    .multi(true)
    .includeAll(true)
    .allowCustomValue(false)
    .current(all);
}

/**
 * A free-text search, empty as opened. Grafana's scenes loader takes `query` when `current.value`
 * is empty (public/app/features/dashboard-scene/utils/variables.ts, text-box branch): without
 * `query: ''` the box holds `undefined`, and the plugin's $__conditionalAll calls
 * `current.value.toString()` on it and fails every panel that uses the box.
 */
function textBox(name: string, label: string, description: string) {
  return new dashboard.TextBoxVariableBuilder(name).label(label).description(description).defaultValue('').current({ text: '', value: '' });
}

/** Distinct values of a rollup column in the time range (the webhook rollups stay small). */
const distinctInRange = (column: string, table: string, time = 'minute') => `
  SELECT DISTINCT ${column}
  FROM ${table}
  WHERE $__timeFilter(${time}) AND ${column} != ''
  ORDER BY ${column}`;

/**
 * A request column's values in the range: its whole hours from an hourly rollup, the minutes at its
 * edges from that rollup's minute table, so every request in the range counts and no other does.
 * request_stats_1m alone holds a row per minute and combination of every dimension: over Insights'
 * 7 days at the benchmark's 100M logs each dropdown read its 39M rows (up to 167 ms p95), where
 * request_endpoints_1h holds 2.3M (request_status_1h, for the response code, 0.2M).
 */
const requestColumnHours = {
  request_endpoints_1h: 'request_stats_1m',
  request_status_1h: 'request_status_1m',
} as const;
const requestValuesInRange = (column: string, hours: keyof typeof requestColumnHours) => {
  const first = firstWholeHourIn(hours);
  return `(
        SELECT ${column} FROM ${hours}
        WHERE hour >= ${first} AND hour < ${afterLastWholeHour}
        UNION ALL
        SELECT ${column} FROM ${requestColumnHours[hours]}
        WHERE $__timeFilter(minute) AND (minute < ${first} OR minute >= ${afterLastWholeHour})
      )`;
};
const distinctRequestValues = (column: string) => `
  SELECT DISTINCT ${column}
  FROM ${requestValuesInRange(column, 'request_endpoints_1h')}
  WHERE ${column} != ''
  ORDER BY ${column}`;

const definitions = {
  datasource: () =>
    new dashboard.DatasourceVariableBuilder('datasource')
      .label('Data source')
      .type(clickhousePluginId)
      .current({ text: 'ClickHouse', value: clickhouseDatasourceUid }),
  institution: () =>
    queryDropdown(
      'institution',
      'Institution',
      `
      SELECT DISTINCT institution
      FROM (
        SELECT institution FROM ${requestValuesInRange('institution', 'request_endpoints_1h')}
        UNION ALL
        SELECT institution FROM links_latest
      )
      WHERE institution != ''
      ORDER BY institution`,
    ),
  customer: () => queryDropdown('customer', 'Customer', distinctRequestValues('customer_id')),
  endpoint: () => queryDropdown('endpoint', 'Endpoint', distinctRequestValues('endpoint')),
  method: () => fixedDropdown('method', 'Method', httpMethods),
  status_code: () =>
    queryDropdown(
      'status_code',
      'Response code',
      `
      SELECT DISTINCT status_code
      FROM ${requestValuesInRange('status_code', 'request_status_1h')}
      ORDER BY status_code`,
      dashboard.VariableSort.NumericalAsc,
    ),
  source: () => queryDropdown('source', 'Source', distinctRequestValues('source')),
  link_status: () => fixedDropdown('link_status', 'Link status', linkStatuses),
  access_mode: () => fixedDropdown('access_mode', 'Access mode', accessModes),
  event: () => queryDropdown('event', 'Event', distinctInRange('event', 'webhook_stats_1m')),
  event_type: () => queryDropdown('event_type', 'Type', distinctInRange('type', 'webhook_stats_1m')),
  link_id: () => textBox('link_id', 'Link id', 'Exact link id'),
  external_id: () => textBox('external_id', 'External id', "Exact external_id: the customer's own id for its user"),
  request_id: () => textBox('request_id', 'Request id', 'Exact request_id, as shown in an error body'),
  webhook_id: () => textBox('webhook_id', 'Webhook id', 'Exact webhook_id: opens the event and its attempts'),
} satisfies Record<string, () => cog.Builder<dashboard.VariableModel>>;

export type VariableName = keyof typeof definitions;

const textBoxes: readonly VariableName[] = ['link_id', 'external_id', 'request_id', 'webhook_id'];

/** Builders for a dashboard's variables, in the order given (the order of the controls). */
export function variables(names: readonly VariableName[]): cog.Builder<dashboard.VariableModel>[] {
  return names.map((name) => definitions[name]());
}

/** The filters a link from this dashboard carries: everything but the free-text searches. */
export function carriedFilters(names: readonly VariableName[]): VariableName[] {
  return names.filter((name) => !textBoxes.includes(name));
}
