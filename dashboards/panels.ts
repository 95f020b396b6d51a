import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { datasourceFromVariable, type ClickHouseQueryBuilder } from './clickhouse-query.js';

/**
 * Panel defaults shared by every dashboard. Ids are given by the caller and never reused, so
 * links, alerts and bookmarks to a panel survive panels being added around it.
 */
export interface PanelSpec {
  id: number;
  title: string;
  description: string;
  query: ClickHouseQueryBuilder;
  width?: number;
  height?: number;
}

function base<P extends { id(n: number): P; title(t: string): P; description(d: string): P; datasource(d: common.DataSourceRef): P; withTarget(t: ClickHouseQueryBuilder): P; span(w: number): P; height(h: number): P }>(
  panel: P,
  spec: PanelSpec,
): P {
  return panel
    .id(spec.id)
    .title(spec.title)
    .description(spec.description)
    .datasource(datasourceFromVariable)
    .withTarget(spec.query)
    .span(spec.width ?? 24)
    .height(spec.height ?? 8);
}

const legend = () =>
  new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom);

export const tablePanel = (spec: PanelSpec) =>
  base(new table.PanelBuilder(), spec).cellHeight(common.TableCellHeight.Sm).filterable(true);

/**
 * The finest time bucket our charts can draw: they read per-minute rollups. Grafana's interval is
 * range / width rounded (rangeutil.calculateInterval), 1 s on a 15-minute range; with a minimum of
 * 1m, $__timeInterval never asks a minute rollup for sub-minute buckets. It is set per panel: the
 * ClickHouse plugin reads no datasource-wide `timeInterval` (its CHDatasource sets no `interval`).
 */
export const minInterval = '1m';

/** Bar labels up to this many characters are shown whole (0 would cut every one to "..."). */
export const barLabelMaxLength = 40;

export const timeSeriesPanel = (spec: PanelSpec & { unit?: string }) =>
  base(new timeseries.PanelBuilder(), spec)
    .interval(minInterval)
    .legend(legend())
    .unit(spec.unit ?? 'short')
    .drawStyle(common.GraphDrawStyle.Line)
    .fillOpacity(10)
    .spanNulls(false);

/** One big number per row of the result (a single row gives a single number). */
export const statPanel = (spec: PanelSpec & { unit?: string }) =>
  base(new stat.PanelBuilder(), spec)
    .unit(spec.unit ?? 'short')
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.ValueAndName)
    .reduceOptions(new common.ReduceDataOptionsBuilder().values(true).calcs(['lastNotNull']).fields(''));

/** A category column (xField) against one or more numbers. */
export const barChartPanel = (spec: PanelSpec & { xField: string; unit?: string }) =>
  base(new barchart.PanelBuilder(), spec)
    .xField(spec.xField)
    .unit(spec.unit ?? 'short')
    .orientation(common.VizOrientation.Horizontal)
    .xTickLabelMaxLength(barLabelMaxLength)
    .showValue(common.VisibilityMode.Auto)
    .legend(legend());

/** A row header grouping the panels added after it. */
export const row = (id: number, title: string) => new dashboard.RowBuilder(title).id(id);
