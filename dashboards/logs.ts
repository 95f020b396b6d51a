import * as common from '@grafana/grafana-foundation-sdk/common';
import { sql, timeSeriesSql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { tablePanel, timeSeriesPanel } from './panels.js';
import { errorBody, responseClass } from './shared-sql.js';
import { allOf, anyOf, matchesText, noneSelected, rawTimeFilter } from './sql-filters.js';
import { fromCutoff, newestRowsCutoff } from './newest-rows.js';
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

/** The dropdowns request_status_1m has no column for. */
const notInStatusRollup = ['endpoint', 'method', 'source'];

/**
 * The rollups have no per-request ids, so this chart follows the dropdowns, not the searches.
 * While endpoint, method and source are All (as the dashboard opens) it reads request_status_1m,
 * whose rows per minute are bounded by institutions x customers x responses (request_stats_1m
 * keeps close to a row per request at volume); once one of them filters, request_stats_1m. The
 * guards are constants: only one branch is read, and both give the same counts.
 */
export const requestsByClassSql = `
  SELECT $__timeInterval(minute) AS time, ${responseClass} AS response_class, sum(requests) AS requests
  FROM (
    SELECT minute, status_code, requests
    FROM request_status_1m
    WHERE ${allOf(noneSelected(...notInStatusRollup), '$__timeFilter(minute)', anyOf('customer_id', 'customer'), anyOf('institution', 'institution'), anyOf('status_code', 'status_code')).replaceAll('\n', '\n  ')}
    UNION ALL
    SELECT minute, status_code, requests
    FROM request_stats_1m
    WHERE ${allOf(`NOT ${noneSelected(...notInStatusRollup)}`, '$__timeFilter(minute)', ...dropdownFilters).replaceAll('\n', '\n  ')}
  )
  GROUP BY time, response_class
  ORDER BY time, response_class`;

/** The Requests table's row limit. */
const requestsShown = 1000;
const textSearches = ['link_id', 'request_id', 'external_id'];
/** The dropdowns request_errors_5m has no column for. */
const notInErrorRollup = ['endpoint', 'method', 'status_code', 'source'];

/**
 * Where the table's newest rows start: counted in request_errors_5m (a row per 5 minutes, institution and customer) while only
 * the customer and institution dropdowns can filter, in request_stats_1m (every dropdown's column)
 * once another dropdown filters. The rollups have no per-request ids: while a search box is
 * filled neither branch reads and the range bounds the read (the ids' indexes then skip granules).
 */
const requestsCutoff = newestRowsCutoff({
  limit: requestsShown,
  counts: [
    {
      table: 'request_errors_5m',
      bucket: 'bucket',
      seconds: 300,
      rows: 'requests',
      where: [noneSelected(...textSearches), noneSelected(...notInErrorRollup), anyOf('customer_id', 'customer'), anyOf('institution', 'institution')],
    },
    {
      table: 'request_stats_1m',
      bucket: 'minute',
      seconds: 60,
      rows: 'requests',
      where: [noneSelected(...textSearches), `NOT ${noneSelected(...notInErrorRollup)}`, ...dropdownFilters],
    },
  ],
});

export const requestLogsSql = `
  WITH ${requestsCutoff} AS cutoff
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
    fromCutoff('timestamp'),
  )}
  ORDER BY timestamp DESC
  LIMIT ${requestsShown}`;

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
