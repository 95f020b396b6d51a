import { sql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { barChartPanel, tablePanel } from './panels.js';
import { activityMonthsSince, currentLinks, linkLastAccess, linksFinal, newestLinksCutoff } from './shared-sql.js';
import { allOf, anyOf, matchesText } from './sql-filters.js';
import { dashboardVariables } from './dashboard-variables.js';

/** Links: every end user's connection, its status and last access; "can my user see data?" starts here. */
const spec: DashboardSpec = {
  uid: dashboardUids.links,
  title: 'Links',
  description: 'Links with status, access mode, external id, institution, creation and last access. Search by link_id or external_id.',
  variables: dashboardVariables[dashboardUids.links],
  section: true,
};

/** Filters on a link's identity (stable over its life): applied before picking its newest state. */
const identityFilters = [
  anyOf('customer_id', 'customer'),
  anyOf('institution', 'institution'),
  matchesText('link_id', 'link_id'),
  matchesText('external_id', 'external_id'),
];
/** Filters on the current state: applied after. */
const stateFilters = allOf(anyOf('status', 'link_status'), anyOf('access_mode', 'access_mode'));

export const linksByStatusSql = `
  SELECT status, count() AS links
  FROM ${linksFinal(...identityFilters, stateFilters)}
  GROUP BY status
  ORDER BY links DESC, status`;

const TABLE_ROWS = 1000;

/**
 * Only links created since the 1,000th newest match are read (newestLinksCutoff), with their
 * activity since then (activityMonthsSince): the table's rows stay the same, the work grows neither
 * with the number of links nor with the months kept.
 */
export const linksTableSql = `
  WITH ${newestLinksCutoff(TABLE_ROWS, identityFilters, stateFilters)} AS cutoff
  SELECT
    l.link_id AS link_id,
    l.status AS status,
    l.access_mode AS access_mode,
    l.external_id AS external_id,
    l.institution AS institution,
    l.created_at AS created_at,
    nullIf(a.last_accessed_at, toDateTime64(0, 3, 'UTC')) AS last_accessed_at,
    a.requests AS requests,
    a.errors AS errors
  FROM (${currentLinks(...identityFilters, 'created_at >= cutoff')}
  ) AS l
  LEFT JOIN (${linkLastAccess(matchesText('link_id', 'link_id'), `link_id IN (
      SELECT link_id FROM links_latest
      WHERE ${allOf(...identityFilters, 'created_at >= cutoff')})`, activityMonthsSince('cutoff'))}
  ) AS a ON a.link_id = l.link_id
  WHERE ${allOf(anyOf('l.status', 'link_status'), anyOf('l.access_mode', 'access_mode'))}
  ORDER BY created_at DESC, link_id
  LIMIT ${TABLE_ROWS}`;

export function linksDashboard() {
  const toDetail = drillDownUrl(spec.uid, dashboardUids.linkDetail, { link_id: '${__value.raw}' });
  return observabilityDashboard(spec)
    .withPanel(
      barChartPanel({
        id: 1,
        title: 'Links by status',
        description: 'Current status of the links matching the filters.',
        query: sql(linksByStatusSql),
        xField: 'status',
        height: 7,
      }),
    )
    .withPanel(
      tablePanel({
        id: 2,
        title: 'Links',
        description: 'All links matching the filters, newest first (not limited by the time range). Click a link id for its timeline.',
        query: sql(linksTableSql),
        height: 16,
      })
        .overrideByName('link_id', columnLink('Open link detail', toDetail)),
    );
}
