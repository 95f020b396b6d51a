import type { DashboardUid } from './drilldown.js';
import type { VariableName } from './variables.js';

/**
 * Which variables each dashboard has, in control order. Kept in one place because a link between
 * two dashboards carries exactly the filters both have.
 */
export const dashboardVariables = {
  links: ['datasource', 'customer', 'institution', 'link_status', 'access_mode', 'link_id', 'external_id'],
  'link-detail': ['datasource', 'link_id'],
  logs: ['datasource', 'customer', 'institution', 'endpoint', 'method', 'status_code', 'source', 'link_id', 'request_id', 'external_id'],
  events: ['datasource', 'customer', 'event', 'event_type', 'webhook_id', 'link_id'],
  insights: ['datasource', 'customer', 'institution', 'endpoint', 'method', 'status_code', 'source'],
} as const satisfies Record<DashboardUid, readonly VariableName[]>;
