import { sql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { tablePanel } from './panels.js';
import { currentLinks, errorBody, linkLastAccess } from './shared-sql.js';
import { equalsRequiredText, rawTimeFilter, timeFilterMs } from './sql-filters.js';
import { dashboardVariables } from './dashboard-variables.js';

/**
 * One link's timeline: its state, everything that happened to it in one list, then API calls,
 * webhook events, status changes and errors one by one. Opened
 * from a link id anywhere; the raw tables answer from their by_link projection (sql/010), sorted by link.
 */
const spec: DashboardSpec = {
  uid: dashboardUids.linkDetail,
  title: 'Link detail',
  description: "One link's state, its timeline (API calls, webhook attempts and status changes together), latest API calls, webhook events with every attempt, status changes and errors.",
  variables: dashboardVariables[dashboardUids.linkDetail],
  section: false,
  defaultRange: 'now-7d',
};

const thisLink = equalsRequiredText('link_id', 'link_id');

export const linkHeaderSql = `
  SELECT
    l.link_id AS link_id,
    l.status AS status,
    l.access_mode AS access_mode,
    l.institution AS institution,
    l.external_id AS external_id,
    l.created_at AS created_at,
    nullIf(a.last_accessed_at, toDateTime64(0, 3, 'UTC')) AS last_accessed_at
  FROM (${currentLinks(thisLink)}
  ) AS l
  LEFT JOIN (${linkLastAccess(thisLink)}
  ) AS a ON a.link_id = l.link_id`;

export const linkApiCallsSql = `
  SELECT
    timestamp,
    status_code,
    method,
    endpoint,
    request_id,
    source,
    ${errorBody} AS error_body
  FROM request_logs
  WHERE ${rawTimeFilter('timestamp')} AND ${thisLink}
  ORDER BY timestamp DESC
  LIMIT 200`;

export const linkWebhookAttemptsSql = `
  SELECT timestamp, webhook_id, type, event, attempt, status_code, url, error
  FROM webhook_attempts
  WHERE ${rawTimeFilter('timestamp')} AND ${thisLink}
  ORDER BY timestamp DESC, attempt DESC
  LIMIT 500`;

/** The whole state history (a handful of rows per link), not limited by the time range. */
export const linkStatusChangesSql = `
  SELECT DISTINCT updated_at, status, access_mode
  FROM links
  WHERE ${thisLink}
  ORDER BY updated_at DESC
  LIMIT 200`;

/** One branch of the timeline: its newest rows only, so no branch reads more than it can show. */
const timelineLimit = 300;

/**
 * API calls, webhook attempts and status changes of the link in one time-ordered list, newest
 * first. Each branch is bounded the way its table is sorted: the raw tables by the time range and
 * hour key (toStartOfHour(timestamp) leads their sort key) and answered from their by_link projection (sorted by link_id, timestamp), `links`
 * by (link_id, updated_at), its whole sort key. Columns: kind, time, what happened, its status or
 * response code, and the request_id or webhook_id to open.
 */
export const linkTimelineSql = `
  SELECT time, kind, what, status, request_id, webhook_id
  FROM (
    (
      SELECT
        timestamp AS time,
        'API call' AS kind,
        concat(method, ' ', endpoint) AS what,
        if(error_code != '', concat(toString(status_code), ' ', error_code), toString(status_code)) AS status,
        request_id,
        '' AS webhook_id
      FROM request_logs
      WHERE ${rawTimeFilter('timestamp')} AND ${thisLink}
      ORDER BY timestamp DESC
      LIMIT ${timelineLimit}
    )
    UNION ALL
    (
      SELECT
        timestamp AS time,
        'webhook' AS kind,
        concat(event, ' (', type, '), attempt ', toString(attempt)) AS what,
        if(status_code IS NULL, concat('no response: ', error), toString(status_code)) AS status,
        '' AS request_id,
        webhook_id
      FROM webhook_attempts
      WHERE ${rawTimeFilter('timestamp')} AND ${thisLink}
      ORDER BY timestamp DESC, attempt DESC
      LIMIT ${timelineLimit}
    )
    UNION ALL
    (
      SELECT DISTINCT
        updated_at AS time,
        'status change' AS kind,
        concat('access mode ', access_mode) AS what,
        status,
        '' AS request_id,
        '' AS webhook_id
      FROM links
      WHERE ${thisLink} AND ${timeFilterMs('updated_at')}
      ORDER BY time DESC
      LIMIT ${timelineLimit}
    )
  )
  ORDER BY time DESC, kind
  LIMIT ${timelineLimit}`;

export const linkErrorsSql = `
  SELECT status_code, error_code, error_origin, count() AS errors, max(timestamp) AS last_seen
  FROM request_logs
  WHERE ${rawTimeFilter('timestamp')} AND ${thisLink} AND status_code >= 400
  GROUP BY status_code, error_code, error_origin
  ORDER BY errors DESC, status_code`;

export function linkDetailDashboard() {
  return observabilityDashboard(spec)
    .withPanel(
      tablePanel({
        id: 1,
        title: 'Link',
        description: 'Current status, access mode, institution, external id, creation and last access.',
        query: sql(linkHeaderSql),
        height: 4,
      }),
    )
    .withPanel(
      tablePanel({
        id: 6,
        title: 'Timeline',
        description: 'API calls, webhook delivery attempts and status changes in one list, newest first. Click a request id for the request in Logs, a webhook id for the event.',
        query: sql(linkTimelineSql),
        height: 12,
      })
        .overrideByName('request_id', columnLink('Open in Logs', drillDownUrl(spec.uid, dashboardUids.logs, { request_id: '${__value.raw}' })))
        .overrideByName('webhook_id', columnLink('Open event', drillDownUrl(spec.uid, dashboardUids.events, { webhook_id: '${__value.raw}' }))),
    )
    .withPanel(
      tablePanel({
        id: 2,
        title: 'Latest API calls',
        description: 'Newest first. Errors show their body (code, message, request_id); successful calls never do.',
        query: sql(linkApiCallsSql),
        height: 10,
      }).overrideByName('request_id', columnLink('Open in Logs', drillDownUrl(spec.uid, dashboardUids.logs, { request_id: '${__value.raw}' }))),
    )
    .withPanel(
      tablePanel({
        id: 3,
        title: 'Webhook events',
        description: 'Every delivery attempt of the events sent for this link.',
        query: sql(linkWebhookAttemptsSql),
        height: 9,
        width: 14,
      }).overrideByName('webhook_id', columnLink('Open event', drillDownUrl(spec.uid, dashboardUids.events, { webhook_id: '${__value.raw}' }))),
    )
    .withPanel(
      tablePanel({
        id: 4,
        title: 'Status changes',
        description: 'Every state posted for this link, newest first.',
        query: sql(linkStatusChangesSql),
        height: 9,
        width: 10,
      }),
    )
    .withPanel(
      tablePanel({
        id: 5,
        title: 'Errors',
        description: 'Errors of this link by response code and error code.',
        query: sql(linkErrorsSql),
        height: 7,
      }),
    );
}
