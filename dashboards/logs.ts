import * as common from '@grafana/grafana-foundation-sdk/common';
import { sql, timeSeriesSql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { tablePanel, timeSeriesPanel } from './panels.js';
import { errorBody, responseClass } from './shared-sql.js';
import { allOf, anyOf, matchesText, rawTimeFilter } from './sql-filters.js';
import { dashboardVariables } from './dashboard-variables.js';

/** Logs: every API call, filterable and searchable; an error row carries its body. */
const spec: DashboardSpec = {
  uid: dashboardUids.logs,
  title: 'Logs',
  description: 'Every request: filter by endpoint, institution, method, source and response code; search by link_id, request_id or external_id.',
  variables: dashboardVariables[dashboardUids.logs],
  section: true,
};

/** The dropdown filters: columns of both the raw table and the per-minute rollup. */
const dropdownFilters = [
  anyOf('customer_id', 'customer'),
  anyOf('institution', 'institution'),
  anyOf('endpoint', 'endpoint'),
  anyOf('method', 'method'),
  anyOf('status_code', 'status_code'),
  anyOf('source', 'source'),
];

/** The rollup has no per-request ids, so this chart follows the dropdowns, not the searches. */
export const requestsByClassSql = `
  SELECT $__timeInterval(minute) AS time, ${responseClass} AS response_class, sum(requests) AS requests
  FROM request_stats_1m
  WHERE ${allOf('$__timeFilter(minute)', ...dropdownFilters)}
  GROUP BY time, response_class
  ORDER BY time, response_class`;

export const requestLogsSql = `
  SELECT
    timestamp,
    status_code,
    method,
    endpoint,
    link_id,
    institution,
    request_id,
    external_id,
    source,
    ${errorBody} AS error_body
  FROM request_logs
  WHERE ${allOf(
    rawTimeFilter('timestamp'),
    ...dropdownFilters,
    matchesText('link_id', 'link_id'),
    matchesText('request_id', 'request_id'),
    matchesText('external_id', 'external_id'),
  )}
  ORDER BY timestamp DESC
  LIMIT 1000`;

export function logsDashboard() {
  return observabilityDashboard(spec)
    .withPanel(
      timeSeriesPanel({
        id: 1,
        title: 'Requests by response class',
        description: 'Requests per interval split 2xx/4xx/5xx, from the per-minute rollup. Follows the dropdown filters; the id searches apply to the table below.',
        query: timeSeriesSql(requestsByClassSql),
        height: 8,
      }).stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal)),
    )
    .withPanel(
      tablePanel({
        id: 2,
        title: 'Requests',
        description: 'Newest first, at most 1000 rows. An error row shows its body (code, message, request_id); successful rows never show one.',
        query: sql(requestLogsSql),
        height: 18,
      })
        .overrideByName('link_id', columnLink('Open link detail', drillDownUrl(spec.uid, dashboardUids.linkDetail, { link_id: '${__value.raw}' })))
        .overrideByName('request_id', columnLink('Only this request', drillDownUrl(spec.uid, dashboardUids.logs, { request_id: '${__value.raw}' }))),
    );
}
