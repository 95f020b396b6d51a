import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { sql, timeSeriesSql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { barChartPanel, row, statPanel, tablePanel, timeSeriesPanel } from './panels.js';
import { afterLastWholeHour, firstWholeHourIn, linksFinal } from './shared-sql.js';
import { allOf, anyOf, noneSelected, timeFilterMs } from './sql-filters.js';
import { dashboardVariables } from './dashboard-variables.js';
import { alertHistorySection } from './alerting.js';

/**
 * Insights: how the integration is doing overall. Every request figure reads a per-minute rollup
 * and link figures read the per-link tables, so the panels stay fast at any raw volume.
 */
const spec: DashboardSpec = {
  uid: dashboardUids.insights,
  title: 'Insights',
  description: 'Most common errors, most used endpoints, request counts, links created, valid and active links, errors per institution and their origin.',
  variables: dashboardVariables[dashboardUids.insights],
  section: true,
  defaultRange: 'now-7d',
};

/** The request dropdowns, as [column, variable]. */
const requestDropdowns = [
  ['customer_id', 'customer'],
  ['institution', 'institution'],
  ['endpoint', 'endpoint'],
  ['method', 'method'],
  ['status_code', 'status_code'],
  ['source', 'source'],
] as const;
/** The dropdowns request_status_1m has no column for. */
const notInNarrowRollup: readonly string[] = ['endpoint', 'method', 'source'];
/** The dropdowns a table has columns for (all but `missing`). */
const dropdownsWithout = (missing: readonly string[]) =>
  requestDropdowns.filter(([, variable]) => !missing.includes(variable)).map(([column, variable]) => anyOf(column, variable));
/** The time filter and the dropdowns a table has columns for (all but `missing`). */
const conditionsWithout = (missing: readonly string[]) => ['$__timeFilter(minute)', ...dropdownsWithout(missing)];
const requestConditions = conditionsWithout([]);
const narrowConditions = conditionsWithout(notInNarrowRollup);
const narrowRollupAnswers = noneSelected(...notInNarrowRollup);
/** The dropdowns request_errors_1m has no column for: the response's, besides those above. */
const notInErrorRollup: readonly string[] = [...notInNarrowRollup, 'status_code'];
const errorRollupAnswers = noneSelected(...notInErrorRollup);
const errorConditions = conditionsWithout(notInErrorRollup);
const where = (...conditions: string[]) => conditions.join('\n      AND ');

/**
 * Request rows for a panel that needs only minute, institution, customer and response columns
 * (status, error code, origin). While the endpoint, method and source dropdowns are All (as the
 * dashboard opens) they come from request_status_1m, which holds a fraction of the rows of
 * request_stats_1m (docs/schema.md); once one of those three filters, from request_stats_1m,
 * which has their columns. Both branches are in the SQL, but the guard expands to a constant, so
 * ClickHouse reads only one of the two tables: the answer is the same either way.
 */
function requestRows(columns: string, ...conditions: string[]): string {
  return `(
    SELECT ${columns}
    FROM request_status_1m
    WHERE ${where(narrowRollupAnswers, ...narrowConditions, ...conditions)}
    UNION ALL
    SELECT ${columns}
    FROM request_stats_1m
    WHERE ${where(`NOT ${narrowRollupAnswers}`, ...requestConditions, ...conditions)}
  )`;
}

const firstWholeHour = firstWholeHourIn('request_status_1h');

/**
 * requestRows for a panel that sums over the whole range (no time axis). While endpoint, method
 * and source are All, the whole hours in [F, L) come from request_status_1h (a row per hour where
 * request_status_1m has up to 60) and only the minutes at the range's two edges from
 * request_status_1m: the same rows are counted, once each. Otherwise as requestRows.
 */
function requestTotals(columns: string, ...conditions: string[]): string {
  return `(
    SELECT ${columns}
    FROM request_status_1h
    WHERE ${where(narrowRollupAnswers, `hour >= ${firstWholeHour}`, `hour < ${afterLastWholeHour}`, ...dropdownsWithout(notInNarrowRollup), ...conditions)}
    UNION ALL
    SELECT ${columns}
    FROM request_status_1m
    WHERE ${where(narrowRollupAnswers, ...narrowConditions, `(minute < ${firstWholeHour} OR minute >= ${afterLastWholeHour})`, ...conditions)}
    UNION ALL
    SELECT ${columns}
    FROM request_stats_1m
    WHERE ${where(`NOT ${narrowRollupAnswers}`, ...requestConditions, ...conditions)}
  )`;
}

/** Links have no endpoint, method or response code: only these filters apply to them. */
const linkFilters = [anyOf('customer_id', 'customer'), anyOf('institution', 'institution')];

export const requestCountSql = `
  SELECT sum(requests) AS requests
  FROM ${requestTotals('requests')}`;

/** A fixed 30-day window, whatever the time picker says: the question is "created lately". */
export const linksCreatedSql = `
  SELECT access_mode, count() AS links
  FROM ${linksFinal(...linkFilters, 'created_at >= now() - INTERVAL 30 DAY')}
  GROUP BY access_mode
  ORDER BY access_mode`;

export const validLinksSql = `
  SELECT count() AS valid_links
  FROM ${linksFinal(...linkFilters, "status = 'valid'")}`;

/**
 * Links with at least one request in the time range: links with a month row whose last request
 * falls in it. Every row's last_request_at (merged or not) is the time of one of that link's
 * requests, so no per-link GROUP BY is needed (at 1M links it hashed every link id and was the
 * slowest Insights panel); exact when the range ends now, as a dashboard opens. Counted over a
 * 64-bit hash of the id: a collision among 1M links is about 3 in 100M (1M^2 / 2^65).
 * The month bound prunes older partitions (month is the UTC month of the day, sql/007). Read from
 * link_activity_lookup (sql/016), the same rows with the hash stored: no id read or hashed per row.
 */
export const activeLinksSql = `
  SELECT uniqExact(link_hash) AS active_links
  FROM link_activity_lookup
  WHERE ${allOf(...linkFilters, timeFilterMs('last_request_at'), "month >= toStartOfMonth(toDate($__fromTime, 'UTC'))", "month <= toDate($__toTime, 'UTC')")}`;

export const mostCommonErrorsSql = `
  SELECT status_code, error_code, sum(requests) AS errors
  FROM ${requestTotals('status_code, error_code, requests', 'status_code >= 400')}
  GROUP BY status_code, error_code
  ORDER BY errors DESC, status_code, error_code
  LIMIT 10`;

/**
 * Requests per endpoint: the whole hours in [F, L) from request_endpoints_1h (sql/014, every
 * dropdown's column, a row per hour where request_stats_1m has up to 60 and one per error code),
 * the minutes at the range's two edges from request_stats_1m.
 */
const endpointHoursFrom = firstWholeHourIn('request_endpoints_1h');
export const mostUsedEndpointsSql = `
  SELECT endpoint, sum(requests) AS requests
  FROM (
    SELECT endpoint, requests
    FROM request_endpoints_1h
    WHERE ${where(`hour >= ${endpointHoursFrom}`, `hour < ${afterLastWholeHour}`, ...dropdownsWithout([]))}
    UNION ALL
    SELECT endpoint, requests
    FROM request_stats_1m
    WHERE ${where(...requestConditions, `(minute < ${endpointHoursFrom} OR minute >= ${afterLastWholeHour})`)}
  )
  GROUP BY endpoint
  ORDER BY requests DESC, endpoint
  LIMIT 10`;

export const errorsPerInstitutionSql = `
  SELECT institution, sum(requests) AS errors
  FROM ${requestTotals('institution, requests', 'status_code >= 400', "institution != ''")}
  GROUP BY institution
  ORDER BY errors DESC, institution`;

/** internal: ours; institution: the bank's; unknown: the producer did not say. */
export const errorsByOriginSql = `
  SELECT if(error_origin = '', 'unknown', error_origin) AS origin, sum(requests) AS errors
  FROM ${requestTotals('error_origin, requests', 'status_code >= 400')}
  GROUP BY origin
  ORDER BY errors DESC, origin`;

/**
 * Grafana's interval is a whole number of 5 minutes (a 7-day range gives 5 or 10): whole 5-minute
 * buckets can come from request_errors_5m. F is the first bucket that starts in the range and L the
 * end of the last one that ends in it; the minutes outside [F, L) are the range's partial buckets.
 * Every zone's offset today is a multiple of 15 minutes, so 5-minute buckets start at the same instants
 * in the server's zone as in the tables' UTC.
 */
const fiveMinuteInterval = '$__interval_s % 300 = 0';
const firstWholeBucket = 'toStartOfFiveMinutes($__fromTime + 299)';
const afterLastWholeBucket = 'toStartOfFiveMinutes($__toTime - 240) + 300';

/**
 * Over 7 days this panel reads every minute of every institution and customer. While no response,
 * endpoint, method or source filter applies it reads request_errors_1m (requests and errors only,
 * ~1/8 of request_status_1m's rows), and when the interval allows, request_errors_5m for the whole
 * 5-minute buckets in the range (1/5 of those rows again) and request_errors_1m only for the
 * minutes at its two edges, so the answer is the same to the request. Once another filter applies
 * it reads the rollup requestRows picks. The guards are constants: only the branches that can
 * answer are read.
 */
export const errorRatePerInstitutionSql = `
  SELECT
    $__timeInterval(minute) AS time,
    institution,
    sum(errors) / sum(requests) AS error_rate
  FROM (
    SELECT bucket AS minute, institution, requests, errors
    FROM request_errors_5m
    WHERE ${where(errorRollupAnswers, fiveMinuteInterval, `bucket >= ${firstWholeBucket}`, `bucket < ${afterLastWholeBucket}`, ...dropdownsWithout(notInErrorRollup), "institution != ''")}
    UNION ALL
    SELECT minute, institution, requests, errors
    FROM request_errors_1m
    WHERE ${where(errorRollupAnswers, ...errorConditions, `(NOT (${fiveMinuteInterval}) OR minute < ${firstWholeBucket} OR minute >= ${afterLastWholeBucket})`, "institution != ''")}
    UNION ALL
    SELECT minute, institution, requests, if(status_code >= 400, requests, 0) AS errors
    FROM ${requestRows('minute, institution, status_code, requests', `NOT ${errorRollupAnswers}`, "institution != ''")}
  )
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
