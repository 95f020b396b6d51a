import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { sql, timeSeriesSql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { barChartPanel, row, statPanel, tablePanel, timeSeriesPanel } from './panels.js';
import { currentLinks, linkLastAccess } from './shared-sql.js';
import { allOf, anyOf } from './sql-filters.js';
import { dashboardVariables } from './dashboard-variables.js';
import { alertHistorySection } from './alerting.js';

/**
 * Insights: how the integration is doing overall. Every request figure reads the per-minute
 * rollup and link figures read the per-link tables, so the panels stay fast at any raw volume.
 */
const spec: DashboardSpec = {
  uid: dashboardUids.insights,
  title: 'Insights',
  description: 'Most common errors, most used endpoints, request counts, links created, valid and active links, errors per institution and their origin.',
  variables: dashboardVariables[dashboardUids.insights],
  section: true,
  defaultRange: 'now-7d',
};

const requestFilters = allOf(
  '$__timeFilter(minute)',
  anyOf('customer_id', 'customer'),
  anyOf('institution', 'institution'),
  anyOf('endpoint', 'endpoint'),
  anyOf('method', 'method'),
  anyOf('status_code', 'status_code'),
  anyOf('source', 'source'),
);
/** Links have no endpoint, method or response code: only these filters apply to them. */
const linkFilters = [anyOf('customer_id', 'customer'), anyOf('institution', 'institution')];

export const requestCountSql = `
  SELECT sum(requests) AS requests
  FROM request_stats_1m
  WHERE ${requestFilters}`;

/** A fixed 30-day window, whatever the time picker says: the question is "created lately". */
export const linksCreatedSql = `
  SELECT access_mode, count() AS links
  FROM (${currentLinks(...linkFilters)}
  )
  WHERE created_at >= now() - INTERVAL 30 DAY
  GROUP BY access_mode
  ORDER BY access_mode`;

export const validLinksSql = `
  SELECT count() AS valid_links
  FROM (${currentLinks(...linkFilters)}
  )
  WHERE status = 'valid'`;

/** Links with at least one request in the time range. */
export const activeLinksSql = `
  SELECT count() AS active_links
  FROM (${linkLastAccess(...linkFilters)}
  )
  WHERE $__timeFilter(last_accessed_at)`;

export const mostCommonErrorsSql = `
  SELECT status_code, error_code, sum(requests) AS errors
  FROM request_stats_1m
  WHERE ${requestFilters} AND status_code >= 400
  GROUP BY status_code, error_code
  ORDER BY errors DESC, status_code, error_code
  LIMIT 10`;

export const mostUsedEndpointsSql = `
  SELECT endpoint, sum(requests) AS requests
  FROM request_stats_1m
  WHERE ${requestFilters}
  GROUP BY endpoint
  ORDER BY requests DESC, endpoint
  LIMIT 10`;

export const errorsPerInstitutionSql = `
  SELECT institution, sum(requests) AS errors
  FROM request_stats_1m
  WHERE ${requestFilters} AND status_code >= 400 AND institution != ''
  GROUP BY institution
  ORDER BY errors DESC, institution`;

/** internal: ours; institution: the bank's; unknown: the producer did not say. */
export const errorsByOriginSql = `
  SELECT if(error_origin = '', 'unknown', error_origin) AS origin, sum(requests) AS errors
  FROM request_stats_1m
  WHERE ${requestFilters} AND status_code >= 400
  GROUP BY origin
  ORDER BY errors DESC, origin`;

export const errorRatePerInstitutionSql = `
  SELECT
    $__timeInterval(minute) AS time,
    institution,
    sumIf(requests, status_code >= 400) / sum(requests) AS error_rate
  FROM request_stats_1m
  WHERE ${requestFilters} AND institution != ''
  GROUP BY time, institution
  ORDER BY time, institution`;

export interface InsightsSection {
  row: cog.Builder<dashboard.RowPanel>;
  panels: cog.Builder<dashboard.Panel>[];
}

/**
 * The dashboard as rows of panels. Another feature (the alert history) adds its own section by
 * passing it to insightsDashboard; panel ids 1-99 belong to the sections below.
 */
export function insightsSections(): InsightsSection[] {
  const toLogs = drillDownUrl(spec.uid, dashboardUids.logs, { status_code: '${__value.raw}' });
  return [
    {
      row: row(100, 'Traffic and links'),
      panels: [
        statPanel({ id: 1, title: 'Requests', description: 'Requests in the time range.', query: sql(requestCountSql), width: 6, height: 5 }),
        statPanel({
          id: 2,
          title: 'Links created (last 30 days)',
          description: 'Links created in the last 30 days, recurrent and single; independent of the time picker.',
          query: sql(linksCreatedSql),
          width: 6,
          height: 5,
        }),
        statPanel({ id: 3, title: 'Valid links', description: 'Links whose current status is valid.', query: sql(validLinksSql), width: 6, height: 5 }),
        statPanel({ id: 4, title: 'Active links', description: 'Links with at least one request in the time range.', query: sql(activeLinksSql), width: 6, height: 5 }),
        barChartPanel({
          id: 5,
          title: 'Most used endpoints',
          description: 'Requests per endpoint in the time range.',
          query: sql(mostUsedEndpointsSql),
          xField: 'endpoint',
          width: 12,
        }),
        tablePanel({
          id: 6,
          title: 'Most common errors',
          description: 'Error responses by response code and error code. Click a code for its requests in Logs.',
          query: sql(mostCommonErrorsSql),
          width: 12,
        }).overrideByName('status_code', columnLink('Show these requests', toLogs)),
      ],
    },
    {
      row: row(101, 'Errors by institution'),
      panels: [
        barChartPanel({
          id: 7,
          title: 'Errors per institution',
          description: 'Error responses per institution in the time range.',
          query: sql(errorsPerInstitutionSql),
          xField: 'institution',
          width: 12,
        }),
        barChartPanel({
          id: 8,
          title: 'Internal vs institution errors',
          description: 'Whether errors came from us (internal) or from the institution.',
          query: sql(errorsByOriginSql),
          xField: 'origin',
          width: 12,
        }),
        timeSeriesPanel({
          id: 9,
          title: 'Error rate per institution',
          description: 'Share of requests answered with 4xx/5xx, per institution.',
          query: timeSeriesSql(errorRatePerInstitutionSql),
          unit: 'percentunit',
        }).min(0),
      ],
    },
  ];
}

export function insightsDashboard(extraSections: InsightsSection[] = [alertHistorySection()]) {
  const builder = observabilityDashboard(spec);
  for (const section of [...insightsSections(), ...extraSections]) {
    builder.withRow(section.row);
    for (const panel of section.panels) builder.withPanel(panel);
  }
  return builder;
}
