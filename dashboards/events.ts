import { sql, timeSeriesSql } from './clickhouse-query.js';
import { observabilityDashboard, type DashboardSpec } from './dashboard-base.js';
import { columnLink, dashboardUids, drillDownUrl } from './drilldown.js';
import { tablePanel, timeSeriesPanel } from './panels.js';
import { allOf, anyOf, equalsRequiredText, matchesText, noneSelected, rawTimeFilter } from './sql-filters.js';
import { fromCutoff, newestRowsCutoff } from './newest-rows.js';
import { dashboardVariables } from './dashboard-variables.js';

/** Events: the webhooks sent to customers and whether they arrived. */
const spec: DashboardSpec = {
  uid: dashboardUids.events,
  title: 'Events',
  description: 'Webhook events with every delivery attempt. Search by webhook id or link id; a webhook id opens its payload and attempts.',
  variables: dashboardVariables[dashboardUids.events],
  section: true,
};

const dropdownFilters = [anyOf('customer_id', 'customer'), anyOf('event', 'event'), anyOf('type', 'event_type')];
const rollupFilters = allOf('$__timeFilter(minute)', ...dropdownFilters);

export const eventsByNameSql = `
  SELECT $__timeInterval(minute) AS time, event, sum(first_attempts) AS events
  FROM webhook_stats_1m
  WHERE ${rollupFilters}
  GROUP BY time, event
  ORDER BY time, event`;

/** Attempts that did not get a 2xx: a refused answer (failed) or none at all (no_response). */
export const failedDeliveriesSql = `
  SELECT $__timeInterval(minute) AS time, outcome, sum(attempts) AS attempts
  FROM webhook_stats_1m
  WHERE ${rollupFilters} AND outcome != 'delivered'
  GROUP BY time, outcome
  ORDER BY time, outcome`;

export const deliverySuccessRateSql = `
  SELECT $__timeInterval(minute) AS time, sumIf(attempts, outcome = 'delivered') / sum(attempts) AS success_rate
  FROM webhook_stats_1m
  WHERE ${rollupFilters}
  GROUP BY time
  ORDER BY time`;

/** The Webhook events table's row limit. */
const eventsShown = 1000;
const textSearches = ['webhook_id', 'link_id'];

/**
 * Where the table's newest events start: the newest hour or minute from which at least 1000 events
 * (first attempts) were sent up to the range's end, counted in webhook_events_1h for whole hours and
 * in webhook_stats_1m for the minutes of the range's last, partial hour (the range's first partial
 * hour is not counted: the cutoff can only be older for it). Both have the dropdowns' columns
 * (customer, event, type) but no ids: while a search box is filled the range bounds the read.
 */
const eventsCutoff = newestRowsCutoff({
  limit: eventsShown,
  counts: [
    { table: 'webhook_events_1h', bucket: 'hour', seconds: 3600, rows: 'first_attempts', where: [noneSelected(...textSearches), ...dropdownFilters] },
    {
      table: 'webhook_stats_1m',
      bucket: 'minute',
      seconds: 60,
      rows: 'first_attempts',
      where: ['minute >= toStartOfHour($__toTime)', noneSelected(...textSearches), ...dropdownFilters],
    },
  ],
});

/**
 * One row per event first sent in the range (its attempt 1 is in it), newest first; its attempts
 * are those up to the range's end. An event is dated by its first attempt, so the 1000 newest all
 * start at or after the cutoff, and so do their retries (a retry follows its first attempt): only
 * the rows from the cutoff are read. Attempts of events first sent earlier are read but dropped.
 * type, event and link are the event's own, so they are grouped on. The last response code is
 * taken through a tuple because aggregate functions skip NULL arguments, and NULL (no response) is
 * exactly what a last attempt may hold.
 */
export const webhookEventsSql = `
  WITH ${eventsCutoff} AS cutoff
  SELECT
    webhook_id,
    type,
    event,
    link_id,
    minIf(timestamp, attempt = 1) AS datetime,
    count() AS attempts,
    argMax(tuple(status_code), attempt).1 AS last_response_code,
    countIf(status_code BETWEEN 200 AND 299) > 0 AS delivered
  FROM webhook_attempts
  WHERE ${allOf(rawTimeFilter('timestamp'), ...dropdownFilters, matchesText('webhook_id', 'webhook_id'), matchesText('link_id', 'link_id'), fromCutoff('timestamp'))}
  GROUP BY webhook_id, type, event, link_id
  HAVING countIf(attempt = 1) > 0
  ORDER BY datetime DESC, webhook_id
  LIMIT ${eventsShown}`;

const thisWebhook = equalsRequiredText('webhook_id', 'webhook_id');

export const eventDetailSql = `
  SELECT webhook_id, event, type, link_id, min(timestamp) AS datetime, argMin(payload, attempt) AS payload
  FROM webhook_attempts
  WHERE ${rawTimeFilter('timestamp')} AND ${thisWebhook}
  GROUP BY webhook_id, event, type, link_id`;

export const eventAttemptsSql = `
  SELECT attempt, timestamp, status_code, url, error, duration_ms
  FROM webhook_attempts
  WHERE ${rawTimeFilter('timestamp')} AND ${thisWebhook}
  ORDER BY attempt`;

export function eventsDashboard() {
  const toLink = drillDownUrl(spec.uid, dashboardUids.linkDetail, { link_id: '${__value.raw}' });
  return observabilityDashboard(spec)
    .withPanel(
      timeSeriesPanel({
        id: 1,
        title: 'Events by name',
        description: 'Events sent per interval (first attempts), by event name.',
        query: timeSeriesSql(eventsByNameSql),
        width: 8,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        id: 2,
        title: 'Failed deliveries',
        description: 'Attempts answered with a non-2xx code (failed) or not answered at all (no_response).',
        query: timeSeriesSql(failedDeliveriesSql),
        width: 8,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        id: 3,
        title: 'Delivery success rate',
        description: 'Share of delivery attempts answered with a 2xx.',
        query: timeSeriesSql(deliverySuccessRateSql),
        unit: 'percentunit',
        width: 8,
      }).min(0).max(1),
    )
    .withPanel(
      tablePanel({
        id: 4,
        title: 'Webhook events',
        description: 'Events first sent in the range (their first attempt in it), newest first, at most 1000; attempts up to the range end. Click a webhook id for its payload and attempts, a link id for the link timeline.',
        query: sql(webhookEventsSql),
        height: 12,
      })
        .overrideByName('webhook_id', columnLink('Open event', drillDownUrl(spec.uid, dashboardUids.events, { webhook_id: '${__value.raw}' })))
        .overrideByName('link_id', columnLink('Open link detail', toLink)),
    )
    .withPanel(
      tablePanel({
        id: 5,
        title: 'Event detail',
        description: 'The event named in "Webhook id": its name, type, link, time and payload.',
        query: sql(eventDetailSql),
        height: 6,
      }).overrideByName('link_id', columnLink('Open link detail', toLink)),
    )
    .withPanel(
      tablePanel({
        id: 6,
        title: 'Delivery attempts',
        description: 'Each attempt of that event: response code (empty: no response), URL, time and error.',
        query: sql(eventAttemptsSql),
        height: 7,
      }),
    );
}
