import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { eventsDashboard } from './events.js';
import { insightsDashboard } from './insights.js';
import { linkDetailDashboard } from './link-detail.js';
import { linksDashboard } from './links.js';
import { logsDashboard } from './logs.js';

/** Every dashboard we ship, built. */
export function buildDashboards(): dashboard.Dashboard[] {
  const boards = [linksDashboard(), linkDetailDashboard(), logsDashboard(), eventsDashboard(), insightsDashboard()].map((d) => d.build());
  // The SDK defaults dashboard links to Grafana 12's controls menu; we want them in the header.
  for (const board of boards) for (const link of board.links ?? []) delete link.placement;
  return boards;
}
