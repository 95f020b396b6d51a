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

/**
 * The one folder of our dashboards and alert rule, found or created by its title by both
 * provisioners. Alerting file provisioning has no folder uid: it finds a root folder by title and
 * otherwise creates one with a random uid (pkg/services/provisioning/alerting/rules_provisioner.go,
 * getOrCreateFolderFullpath / getOrCreateFolderByTitle). The dashboard provider finds its folder by
 * `folderUid` when one is set and by title only without it
 * (pkg/services/provisioning/dashboards/file_reader.go, getOrCreateFolder). With a folderUid, an
 * alert provisioned first leaves a random-uid folder that the dashboards do not find, and they
 * create a second one with the same title; by title, whichever runs second finds the first's
 * folder. So the provider gets no folderUid. `uid` serves only the SDK's rule builder (the HTTP
 * API shape); the alerting file mapping drops it.
 */
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
      type: 'file',
      disableDeletion: true,
      // The JSON is generated: edits belong in dashboards/*.ts, not in the UI.
      allowUiUpdates: false,
      updateIntervalSeconds: 60,
      options: { path: grafanaPaths.dashboards, foldersFromFilesStructure: false },
    },
  ],
};
