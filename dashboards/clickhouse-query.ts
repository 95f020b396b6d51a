import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/** The plugin these dashboards are written for (grafana-clickhouse-datasource 4.20.x). */
export const clickhousePluginId = 'grafana-clickhouse-datasource';
export const clickhousePluginVersion = '4.20.0';
/** uid of the provisioned datasource; the `datasource` variable defaults to it. */
export const clickhouseDatasourceUid = 'clickhouse';

/** Panels and variable queries follow the dashboard's datasource variable. */
export const datasourceFromVariable: DataSourceRef = { type: clickhousePluginId, uid: '${datasource}' };

/** The plugin's result formats (its `format` field). */
export enum QueryFormat {
  TimeSeries = 0,
  Table = 1,
  Logs = 2,
}

/**
 * The plugin's query types (src/types/queryBuilder.ts `QueryType`, v4.20.0). Its SQL editor
 * (src/components/SqlEditor.tsx) reads a missing queryType as 'table' and rewrites `format` from
 * it on the first edit (data/utils.ts mapQueryTypeToGrafanaFormat), so a target carries the
 * queryType that maps back to its own format.
 */
export const queryTypeOf = {
  [QueryFormat.TimeSeries]: 'timeseries',
  [QueryFormat.Table]: 'table',
  [QueryFormat.Logs]: 'logs',
} as const satisfies Record<QueryFormat, string>;
export type QueryType = (typeof queryTypeOf)[QueryFormat];

export interface ClickHouseSqlQuery extends cog.Dataquery {
  refId: string;
  datasource: DataSourceRef;
  editorType: 'sql';
  rawSql: string;
  format: QueryFormat;
  queryType: QueryType;
  pluginVersion: string;
}

/**
 * A raw-SQL target for the ClickHouse plugin. The SDK has no ClickHouse module, so this is the
 * smallest builder that panels accept: the plugin backend reads only rawSql, format and meta; its editor reads queryType.
 */
export class ClickHouseQueryBuilder implements cog.Builder<ClickHouseSqlQuery> {
  private readonly internal: Omit<ClickHouseSqlQuery, '_implementsDataqueryVariant'>;

  constructor(rawSql: string) {
    this.internal = {
      refId: 'A',
      datasource: datasourceFromVariable,
      editorType: 'sql',
      rawSql: normaliseSql(rawSql),
      format: QueryFormat.Table,
      queryType: queryTypeOf[QueryFormat.Table],
      pluginVersion: clickhousePluginVersion,
    };
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  format(format: QueryFormat): this {
    this.internal.format = format;
    this.internal.queryType = queryTypeOf[format];
    return this;
  }

  build(): ClickHouseSqlQuery {
    // The marker method only satisfies the SDK's type; JSON.stringify drops it.
    return { ...this.internal, _implementsDataqueryVariant() {} };
  }
}

/** A table-format target. */
export const sql = (rawSql: string) => new ClickHouseQueryBuilder(rawSql);
/** A time-series target: the first column is the time, a string column splits series. */
export const timeSeriesSql = (rawSql: string) => new ClickHouseQueryBuilder(rawSql).format(QueryFormat.TimeSeries);

/** Strips the indentation of template literals so the JSON shows readable SQL. */
export function normaliseSql(text: string): string {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent).trimEnd()).join('\n');
}
