import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeys } from '../config/env.js';

/**
 * docker-compose.cluster.yml cannot run here (no Docker). This reads it with the ClickHouse and
 * Keeper files it mounts and checks they agree: the cluster the workers name exists, lists every
 * ClickHouse service once, each node knows its own shard, replication reaches the Keeper service,
 * and workers share one hash-tagged queue.
 */
const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

type Node = string | Node[] | { [key: string]: Node };

/** The YAML subset compose files use here: block maps and lists, flow lists, quoted scalars, comments. */
function parseYaml(text: string): Node {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  let i = 0;
  const scalar = (s: string): Node =>
    s.startsWith('[') ? s.slice(1, -1).split(',').map((x) => scalar(x.trim())) : /^(".*"|'.*')$/.test(s) ? s.slice(1, -1) : s;
  const block = (indent: number): Node => {
    if (lines[i]!.text.startsWith('- ')) {
      const list: Node[] = [];
      while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) list.push(scalar(lines[i++]!.text.slice(2)));
      return list;
    }
    const map: Record<string, Node> = {};
    while (i < lines.length && lines[i]!.indent === indent) {
      const m = /^([^:]+):(?:\s+(.*))?$/.exec(lines[i++]!.text);
      if (!m) throw new Error(`unsupported YAML: ${lines[i - 1]!.text}`);
      map[m[1]!] = m[2] ? scalar(m[2]) : i < lines.length && lines[i]!.indent > indent ? block(lines[i]!.indent) : {};
    }
    return map;
  };
  return block(0);
}

interface Service {
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  deploy?: { replicas?: string };
  networks?: { default?: { aliases?: string[] } };
}
const services = (parseYaml(read('docker-compose.cluster.yml')) as unknown as { services: Record<string, Service> }).services;
const clickhouseNodes = Object.keys(services).filter((n) => services[n]!.image?.startsWith('clickhouse/clickhouse-server:'));
const mounts = (s: Service) => (s.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => v.split(':') as [string, string, string?]);
const clusterXml = read('deploy/cluster/clickhouse/config.d/cluster.xml');
const tag = (xml: string, name: string) => [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1]!.trim());

describe('docker-compose.cluster.yml', () => {
  it('runs two ClickHouse shards, Keeper, Redis, Grafana, ingest and two workers, pinned', () => {
    expect(clickhouseNodes).toHaveLength(2);
    expect(services.keeper!.image).toMatch(/^clickhouse\/clickhouse-keeper:\d+\.\d+/);
    for (const s of Object.values(services)) if (s.image && !s.image.startsWith('api-observability')) expect(s.image).toMatch(/:\d+\.\d+/);
    expect(Number(services.workers!.deploy!.replicas)).toBeGreaterThanOrEqual(2);
  });

  it('every mounted host path exists; services set only variables config/env.ts knows', () => {
    for (const s of Object.values(services)) for (const [host] of mounts(s)) expect(existsSync(join(root, host)), host).toBe(true);
    for (const name of ['workers', 'ingest']) for (const key of Object.keys(services[name]!.environment!)) expect(configKeys, key).toContain(key);
  });

  it('the cluster the workers name lists every ClickHouse node as its own shard', () => {
    const cluster = services.workers!.environment!.CLICKHOUSE_CLUSTER!;
    const remote = tag(clusterXml, 'remote_servers')[0]!;
    const definition = tag(remote, cluster)[0];
    expect(definition, `cluster ${cluster} in remote_servers`).toBeDefined();
    const shards = tag(definition!, 'shard');
    expect(shards.map((s) => tag(s, 'host'))).toEqual(clickhouseNodes.map((n) => [n]));
    for (const s of shards) expect(tag(s, 'internal_replication')).toEqual(['true']);
    expect(new URL(services.workers!.environment!.CLICKHOUSE_URL!).hostname).toBe(clickhouseNodes[0]);
  });

  it('each node gets distinct shard and replica macros and the same cluster files', () => {
    expect(clusterXml).toMatch(/<shard from_env="SHARD"\/>/);
    expect(clusterXml).toMatch(/<replica from_env="REPLICA"\/>/);
    const macros = clickhouseNodes.map((n) => `${services[n]!.environment!.SHARD}/${services[n]!.environment!.REPLICA}`);
    expect(new Set(macros).size).toBe(clickhouseNodes.length);
    const secrets = clickhouseNodes.map((n) => services[n]!.environment!.CLICKHOUSE_CLUSTER_SECRET);
    expect(new Set(secrets).size).toBe(1);
    for (const n of clickhouseNodes) {
      expect(mounts(services[n]!).map(([h]) => h).sort()).toEqual(mounts(services[clickhouseNodes[0]!]!).map(([h]) => h).sort());
    }
  });

  it('replication and ON CLUSTER DDL reach the Keeper service on the port it listens on', () => {
    const [[keeperHost, keeperContainer]] = mounts(services.keeper!) as [[string, string]];
    expect(keeperContainer).toBe('/etc/clickhouse-keeper/keeper_config.xml');
    const keeper = read(keeperHost);
    const zk = tag(clusterXml, 'zookeeper')[0]!;
    expect(tag(zk, 'host')).toEqual(['keeper']);
    expect(tag(zk, 'port')).toEqual(tag(keeper, 'tcp_port'));
    expect(tag(keeper, 'hostname')).toEqual(['keeper']);
  });

  it('the writer may run ON CLUSTER DDL and inserts wait for every shard', () => {
    const users = read('deploy/cluster/clickhouse/users.d/observability.xml');
    expect(tag(users, 'writer')[0]).toContain('GRANT CLUSTER ON *.*');
    expect(tag(tag(users, 'default')[0]!, 'distributed_foreground_insert')).toEqual(['1']);
    expect(users).toMatch(/<grafana_readonly>\s*<readonly>1<\/readonly>/);
    expect(services.workers!.environment!.CLICKHOUSE_USER).toBe('writer');
  });

  it('tenants work on the cluster as on one server: the same access settings, the writer may create tenant views and users', () => {
    const grants = (file: string) => (tag(tag(read(file), 'writer')[0]!, 'grants')[0] ?? '').match(/GRANT[^<]*/g) ?? [];
    const single = grants('deploy/clickhouse/users.d/observability.xml').filter((g) => /tenant_|USER|PROFILE/.test(g));
    expect(single.length).toBeGreaterThan(0);
    expect(grants('deploy/cluster/clickhouse/users.d/observability.xml')).toEqual(expect.arrayContaining(single));
    for (const n of clickhouseNodes) {
      expect(mounts(services[n]!).map(([h]) => h)).toContain('./deploy/clickhouse/config.d/observability.xml');
    }
  });

  it('workers and ingest share one hash-tagged queue prefix; Grafana finds ClickHouse by its usual name', () => {
    expect(services.workers!.environment!.QUEUE_PREFIX).toMatch(/^\{\w+\}$/);
    expect(services.ingest!.environment!.QUEUE_PREFIX).toBe(services.workers!.environment!.QUEUE_PREFIX);
    expect(services[clickhouseNodes[0]!]!.networks!.default!.aliases).toContain('clickhouse');
  });
});
