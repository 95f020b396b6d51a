import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeys } from '../config/env.js';
import { datasourceProvisioning, grafanaClickHouse, grafanaPaths } from '../dashboards/provisioning.js';
import { clickhousePluginId, clickhousePluginVersion } from '../dashboards/clickhouse-query.js';
import { committedDashboards } from './dashboards/dashboard-json.js';
import { ingestNodeFlags } from '../ingest/node-flags.js';

/**
 * docker-compose.yml cannot run here (no Docker), so this checks it against the code: the
 * variables our services set exist in config/env.ts, mounted files exist, and hosts, ports,
 * users and paths agree with the Grafana provisioning we generate.
 */
const root = join(import.meta.dirname, '..');

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * Reads the YAML subset docker-compose.yml is written in: block maps and lists, flow lists of
 * scalars, quoted or plain scalars, comments. (No YAML library is a dependency of the project.)
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw) => raw.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  let i = 0;
  const scalar = (s: string): Yaml => {
    if (s.startsWith('[')) return s.slice(1, -1).split(',').map((x) => scalar(x.trim())) as Yaml[];
    if (/^".*"$|^'.*'$/.test(s)) return s.slice(1, -1);
    return s;
  };
  function block(indent: number): Yaml {
    if (lines[i]!.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) {
        list.push(scalar(lines[i]!.text.slice(2)));
        i++;
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (i < lines.length && lines[i]!.indent === indent) {
      const m = /^([^:]+):(?:\s+(.*))?$/.exec(lines[i]!.text);
      if (!m) throw new Error(`unsupported YAML line: ${lines[i]!.text}`);
      i++;
      const [, key, value] = m;
      if (value !== undefined && value !== '') map[key!] = scalar(value);
      else if (i < lines.length && lines[i]!.indent > indent) map[key!] = block(lines[i]!.indent);
      else map[key!] = {};
    }
    return map;
  }
  return block(0);
}

type Service = {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
};
const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;
const ours = ['ingest', 'workers'] as const;
const hostMounts = (s: Service) => (s.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => v.split(':'));

describe('docker-compose.yml', () => {
  it('runs ClickHouse, Redis, Grafana, ingest and workers, pinned', () => {
    expect(Object.keys(services).sort()).toEqual(['clickhouse', 'grafana', 'ingest', 'redis', 'workers']);
    for (const name of ['clickhouse', 'redis', 'grafana']) expect(services[name]!.image).toMatch(/:\d+\.\d+/);
    expect(services.ingest!.command).toEqual(['node', ...ingestNodeFlags, 'dist/ingest/server.js']);
    expect(services.workers!.command).toEqual(['node', 'dist/workers/main.js']);
    for (const name of ours) expect(services[name]!.build).toBe('.');
  });

  it('ingest gets the same Node flags from npm, the image and both compose files', () => {
    const flags = ingestNodeFlags.join(' ');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.ingest).toBe(`tsx ${flags} ingest/server.ts`);
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toContain(`CMD ${JSON.stringify(['node', ...ingestNodeFlags, 'dist/ingest/server.js']).replace(/,/g, ', ')}`);
    const cluster = parseYaml(readFileSync(join(root, 'docker-compose.cluster.yml'), 'utf8')) as { services: Record<string, Service> };
    expect(cluster.services.ingest!.command).toEqual(['node', ...ingestNodeFlags, 'dist/ingest/server.js']);
  });

  it.each(ours)('%s sets only variables config/env.ts knows', (name) => {
    const env = Object.keys(services[name]!.environment ?? {});
    expect(env.length).toBeGreaterThan(0);
    for (const key of env) expect(configKeys, key).toContain(key);
  });

  it('every mounted host path exists', () => {
    const mounts = Object.values(services).flatMap(hostMounts);
    expect(mounts.length).toBeGreaterThan(4);
    for (const [host] of mounts) expect(existsSync(join(root, host!)), host).toBe(true);
  });

  it('ingest and workers reach ClickHouse and Redis by service name, as the writer user', () => {
    const users = readFileSync(join(root, 'deploy/clickhouse/users.d/observability.xml'), 'utf8');
    for (const name of ours) {
      const env = services[name]!.environment!;
      expect(new URL(env.CLICKHOUSE_URL!)).toMatchObject({ hostname: 'clickhouse', port: '8123' });
      expect(new URL(env.REDIS_URL!)).toMatchObject({ hostname: 'redis', port: '6379' });
      expect(users).toContain(`<${env.CLICKHOUSE_USER}>`);
      expect(env.CLICKHOUSE_USER).not.toBe(grafanaClickHouse.username);
    }
    expect(services.ingest!.ports).toContain(`${services.ingest!.environment!.PORT}:${services.ingest!.environment!.PORT}`);
  });

  it('Grafana gets the plugin, our provisioning at the paths it names, and a read-only ClickHouse user', () => {
    const grafana = services.grafana!;
    expect(grafana.environment!.GF_PLUGINS_PREINSTALL_SYNC).toMatch(new RegExp(`^${clickhousePluginId}@4\\.20\\.\\d+$`));
    const mounts = Object.fromEntries(hostMounts(grafana).map(([host, container]) => [container, host]));
    expect(mounts[grafanaPaths.datasources]).toBe('./dashboards/generated/provisioning/datasources');
    expect(mounts[grafanaPaths.dashboardProviders]).toBe('./dashboards/generated/provisioning/dashboards');
    expect(mounts[grafanaPaths.dashboards]).toBe('./dashboards/generated/dashboards');
    expect(grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!.startsWith(`${grafanaPaths.dashboards}/`)).toBe(true);

    const [datasource] = datasourceProvisioning.datasources;
    expect(services[datasource!.jsonData.host]!.image).toMatch(/^clickhouse\/clickhouse-server:/);
    // The native port: ClickHouse's default, not moved by our config override.
    expect(datasource!.jsonData).toMatchObject({ port: 9000, protocol: 'native' });
    expect(readFileSync(join(root, 'deploy/clickhouse/config.d/observability.xml'), 'utf8')).not.toMatch(/tcp_port/);

    // The password Grafana substitutes is the one ClickHouse reads for the grafana user.
    const passwordEnv = grafanaClickHouse.passwordEnv;
    expect(datasource!.secureJsonData.password).toBe(`\${${passwordEnv}}`);
    expect(grafana.environment![passwordEnv]).toBe(services.clickhouse!.environment![passwordEnv]);
    const users = readFileSync(join(root, 'deploy/clickhouse/users.d/observability.xml'), 'utf8');
    const grafanaUser = new RegExp(`<${datasource!.jsonData.username}>([\\s\\S]*?)</${datasource!.jsonData.username}>`).exec(users)![1]!;
    expect(grafanaUser).toContain(`from_env="${passwordEnv}"`);
    expect(grafanaUser).toContain('<profile>grafana_readonly</profile>');
    expect(users).toMatch(/<grafana_readonly>\s*<readonly>1<\/readonly>/);
    expect(grafanaUser).not.toMatch(/GRANT (ALL|INSERT)/);
  });

  it('Grafana is pinned to an exact release that knows the schemaVersion the dashboards are written in', () => {
    const [, version] = /^grafana\/grafana:(\d+\.\d+\.\d+)$/.exec(services.grafana!.image!) ?? [];
    expect(version, services.grafana!.image).toBeDefined();
    // The newest dashboard schemaVersion a release migrates to, checked in Grafana's sources
    // (apps/dashboard/pkg/migration/schemaversion/v42.go, DashboardMigrator.ts "oldVersion < 42",
    // merged for 12.2). A release missing here has not been checked.
    const latestSchemaOf: Record<string, number> = { '12.2': 42 };
    const known = latestSchemaOf[version!.split('.').slice(0, 2).join('.')];
    expect(known, `schema of Grafana ${version}`).toBeDefined();
    for (const board of committedDashboards()) expect(board.schemaVersion, board.uid).toBeLessThanOrEqual(known!);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`Grafana ${version}`);
    expect(readme).toContain(`plugin ${clickhousePluginVersion}`);
    expect(services.grafana!.environment!.GF_PLUGINS_PREINSTALL_SYNC).toBe(`${clickhousePluginId}@${clickhousePluginVersion}`);
  });

  it('Redis keeps the queue: AOF on, no eviction', () => {
    const [[host, container]] = hostMounts(services.redis!) as [[string, string]];
    expect(services.redis!.command).toEqual(['redis-server', container]);
    const conf = readFileSync(join(root, host), 'utf8');
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
  });
});
