import { dashboardVariables } from './dashboard-variables.js';
import { carriedFilters } from './variables.js';

/** Dashboard uids: stable, because links and bookmarks use them. */
export const dashboardUids = {
  links: 'links',
  linkDetail: 'link-detail',
  logs: 'logs',
  events: 'events',
  insights: 'insights',
} as const;

export type DashboardUid = (typeof dashboardUids)[keyof typeof dashboardUids];

/** Every dashboard carries this tag; the four sections also carry the navigation tag. */
export const productTag = 'api-observability';
export const sectionTag = 'api-observability-section';

/**
 * A data-link URL from one dashboard to another that keeps the time range and the filters the two
 * share, and sets `set` (variable names to Grafana expressions such as `${__value.raw}`).
 */
export function drillDownUrl(source: DashboardUid, target: DashboardUid, set: Record<string, string>): string {
  const targetHas = new Set<string>(dashboardVariables[target]);
  const carry = carriedFilters(dashboardVariables[source]).filter((name) => targetHas.has(name) && !(name in set));
  const params = [
    ...Object.entries(set).map(([name, expr]) => `var-${name}=${expr}`),
    '${__url_time_range}',
    ...carry.map((name) => `\${${name}:queryparam}`),
  ];
  return `/d/${target}?${params.join('&')}`;
}

/** Field-override properties that turn a table column into a link. */
export function columnLink(title: string, url: string) {
  return [{ id: 'links', value: [{ title, url }] }];
}
