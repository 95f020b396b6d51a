import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { productTag, sectionTag, type DashboardUid } from './drilldown.js';
import { variables, type VariableName } from './variables.js';

export interface DashboardSpec {
  uid: DashboardUid;
  title: string;
  description: string;
  variables: readonly VariableName[];
  /** The four sections appear in each other's navigation; a detail view does not. */
  section: boolean;
  defaultRange?: string;
}

/**
 * The frame every dashboard shares: viewer's time zone, our variables, and a navigation link to
 * the other sections that keeps the time range and the current filters (includeVars/keepTime).
 */
export function observabilityDashboard(spec: DashboardSpec): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(spec.section ? [productTag, sectionTag] : [productTag])
    .timezone('browser')
    .time({ from: spec.defaultRange ?? 'now-24h', to: 'now' })
    .refresh('')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .variables(variables(spec.variables))
    .link(
      new dashboard.DashboardLinkBuilder('API observability')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags([sectionTag])
        .asDropdown(false)
        .includeVars(true)
        .keepTime(true),
    );
}
