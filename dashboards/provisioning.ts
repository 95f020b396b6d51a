import { clickhouseDatasourceUid, clickhousePluginId } from './clickhouse-query.js';

/**
 * Grafana file provisioning for these dashboards. docker-compose.yml mounts the generated folders
 * at the paths below; test/compose.test.ts checks that the two agree.
 */
export const grafanaPaths = {
  datasources: '/etc/grafana/provisioning/datasources',
  dashboardProviders: '/etc/grafana/provisioning/dashboards',
  dashboards: '/var/lib/grafana/dashboards/api-observability',
  /** The error-rate alert rule, contact point and notification policy (dashboards/alerting.ts). */
  alerting: '/etc/grafana/provisioning/alerting',
} as const;

/** How Grafana reaches ClickHouse inside docker-compose: a read-only user on the native port. */
export const grafanaClickHouse = {
  host: 'clickhouse',
  port: 9000,
  protocol: 'native',
  username: 'grafana',
  database: 'observability',
  /** Grafana expands ${...} in provisioning files from its own environment. */
  passwordEnv: 'GRAFANA_CLICKHOUSE_PASSWORD',
} as const;

export const dashboardFolder = { title: 'API observability', uid: 'api-observability' } as const;

export const datasourceProvisioning = {
  apiVersion: 1,
  datasources: [
    {
      name: 'ClickHouse',
      uid: clickhouseDatasourceUid,
      type: clickhousePluginId,
      isDefault: true,
      editable: false,
      jsonData: {
        host: grafanaClickHouse.host,
        port: grafanaClickHouse.port,
        protocol: grafanaClickHouse.protocol,
        secure: false,
        username: grafanaClickHouse.username,
        // Panel SQL names tables without a database: the plugin connects with this one.
        defaultDatabase: grafanaClickHouse.database,
        dialTimeout: '10',
        queryTimeout: '60',
      },
      secureJsonData: { password: `\${${grafanaClickHouse.passwordEnv}}` },
    },
  ],
};

export const dashboardProvisioning = {
  apiVersion: 1,
  providers: [
    {
      name: 'api-observability',
      orgId: 1,
      folder: dashboardFolder.title,
      folderUid: dashboardFolder.uid,
      type: 'file',
      disableDeletion: true,
      // The JSON is generated: edits belong in dashboards/*.ts, not in the UI.
      allowUiUpdates: false,
      updateIntervalSeconds: 60,
      options: { path: grafanaPaths.dashboards, foldersFromFilesStructure: false },
    },
  ],
};
