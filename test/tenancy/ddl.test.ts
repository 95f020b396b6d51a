import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { migrate } from '../../clickhouse/migrate.js';
import { ClusterRenderError, renderAccessForCluster } from '../../clickhouse/cluster.js';
import { buildDashboards } from '../../dashboards/index.js';
import { buildCustomerDashboards, customerVariant } from '../../dashboards/customer-variant.js';
import { dropTenantDdl, tenantGrants, tenantTables, tenantUserDdl, tenantViewsDdl } from '../../tenancy/ddl.js';
import { customerGrafanaFiles, passwordEnv } from '../../tenancy/grafana.js';
import { tenantName, TenantNameError } from '../../tenancy/identifier.js';
import { listTenants, refreshTenantViews, runStatements } from '../../tenancy/tenants.js';
import { queryPanels, type DashboardJson } from '../dashboards/dashboard-json.js';
import { ALL, expandQuery, type TemplateVariable } from '../dashboards/grafana-expander.js';
import { openMigratedEngine, type MigratedEngine } from '../helpers/migrated-engine.js';
import { root } from './world.js';

const db = 'observability';
const CLUSTER = 'obs_cluster';
let ch: ClickHouseClient;

const rows = async <T = Record<string, unknown>>(query: string, query_params: Record<string, unknown> = {}) =>
  (await ch.query({ query, query_params, format: 'JSONEachRow' })).json<T>();
const formatted = async (statement: string) => (await rows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: statement }))[0]!.f;

let engine: MigratedEngine | undefined;
beforeAll(async () => {
  engine = await openMigratedEngine('tenancy-ddl', db);
  ch = engine.ch;
});
afterAll(async () => {
  await engine?.close();
});

describe('tenant names', () => {
  it('keeps a plain id readable and hashes anything it had to change', () => {
    expect(tenantName('acme')).toBe('tenant_acme');
    expect(tenantName('Acme')).toMatch(/^tenant_acme_[0-9a-f]{8}$/);
    expect(tenantName('acme-corp')).toMatch(/^tenant_acme_corp_[0-9a-f]{8}$/);
    expect(tenantName("x'; DROP DATABASE observability; --")).toMatch(/^tenant_x_drop_database_observability_[0-9a-f]{8}$/);
    expect(tenantName('ünïcödé')).toMatch(/^tenant_n_c_d_[0-9a-f]{8}$/);
    expect(tenantName('a'.repeat(128))).toMatch(/^tenant_a{40}_[0-9a-f]{8}$/);
  });

  it('never gives two customer ids the same name, and every name is a plain identifier', () => {
    const ids = ['acme', 'Acme', 'ACME', 'acme_', 'acme-', 'acme corp', 'acme_corp', 'acme-corp', '_acme', 'a'.repeat(41), 'a'.repeat(42), '日本', '中国'];
    const names = ids.map(tenantName);
    expect(new Set(names).size).toBe(ids.length);
    for (const n of names) expect(n).toMatch(/^tenant_[a-z0-9_]+$/);
  });

  it('refuses an empty id: rows without a customer are for operators only', () => {
    expect(() => tenantName('')).toThrow(TenantNameError);
    expect(() => tenantName('  ')).toThrow(TenantNameError);
  });
});

describe('tenant DDL', () => {
  const o = { database: db, customerId: "O'Brien & Co" };
  const all = () => [...tenantViewsDdl(o), ...tenantUserDdl({ ...o, passwordSha256: 'a'.repeat(64) }), ...dropTenantDdl(o)];

  it('every statement parses (formatQuery), single-node and ON CLUSTER', async () => {
    for (const s of all()) expect(await formatted(s), s).toBeTruthy();
    const clustered = [...tenantViewsDdl({ ...o, cluster: CLUSTER }), ...tenantUserDdl({ ...o, cluster: CLUSTER, passwordSha256: 'a'.repeat(64) }), ...dropTenantDdl({ ...o, cluster: CLUSTER })];
    expect(clustered).toHaveLength(all().length);
    for (const s of clustered) expect(await formatted(s), s).toContain(`ON CLUSTER ${CLUSTER}`);
  });

  it('quotes the customer id as a literal and renders the profile from tenancy/access.ts', async () => {
    const views = tenantViewsDdl(o);
    expect(await formatted(views[1]!)).toContain("WHERE customer_id = 'O\\'Brien & Co'");
    const user = tenantUserDdl({ ...o, passwordSha256: 'b'.repeat(64) });
    expect(user[0]).toMatch(/^CREATE SETTINGS PROFILE OR REPLACE tenant_viewer SETTINGS readonly = 1, max_execution_time = 60 MAX 120 CHANGEABLE_IN_READONLY, /);
    expect(user[1]).toContain(`CREATE USER ${tenantName(o.customerId)} IDENTIFIED WITH sha256_hash BY '${'b'.repeat(64)}'`);
    expect(tenantGrants(o)).toEqual([`GRANT SELECT ON ${tenantName(o.customerId)}.*`]);
  });

  it('refuses a statement kind it has no cluster rendering for', () => {
    expect(() => renderAccessForCluster('ALTER USER x', CLUSTER)).toThrow(ClusterRenderError);
    expect(() => renderAccessForCluster('DROP USER IF EXISTS x', 'bad name')).toThrow(ClusterRenderError);
  });

  it('creates the tenant database and views on the engine; migrate refreshes every tenant', async () => {
    await runStatements(ch, tenantViewsDdl({ database: db, customerId: 'acme' }));
    await runStatements(ch, tenantViewsDdl({ database: db, customerId: 'globex' }));
    expect(await listTenants(ch)).toEqual([
      { customerId: 'acme', database: 'tenant_acme' },
      { customerId: 'globex', database: 'tenant_globex' },
    ]);
    // A view that went missing (a table added by a later migration) comes back with the next migrate.
    await ch.command({ query: 'DROP VIEW tenant_acme.alerts' });
    const log: string[] = [];
    await migrate(ch, { database: db, log: (l) => log.push(l) });
    expect(log).toEqual(['tenant tenant_acme: views refreshed', 'tenant tenant_globex: views refreshed']);
    const views = await rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'tenant_acme' AND engine = 'View' ORDER BY name");
    expect(views.map((v) => v.name)).toEqual([...tenantTables(db)].sort());
    expect(await refreshTenantViews(ch, { database: db })).toHaveLength(2);
  });

  it('a table with customer_id has a view in every tenant database: nothing a customer owns is left out', async () => {
    // Materialized views store nothing (they write their TO table, which is listed itself).
    const withCustomer = await rows<{ table: string }>(
      `SELECT DISTINCT table FROM system.columns
       WHERE database = {db:String} AND name = 'customer_id'
         AND table NOT IN (SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView')
       ORDER BY table`,
      { db },
    );
    expect(withCustomer.length).toBeGreaterThan(10);
    for (const tenant of ['tenant_acme', 'tenant_globex']) {
      const views = await rows<{ name: string }>('SELECT name FROM system.tables WHERE database = {t:String} ORDER BY name', { t: tenant });
      expect(views.map((v) => v.name), tenant).toEqual(withCustomer.map((r) => r.table));
    }
  });

  it('every table the dashboards read has customer_id, so a tenant view can filter it', async () => {
    const sqlOf = (b: DashboardJson) => [
      ...queryPanels(b).flatMap((p) => (p.targets ?? []).map((t) => t.rawSql)),
      ...b.templating.list.flatMap((v) => (v.type === 'query' ? [typeof v.query === 'string' ? v.query : v.query!.rawSql] : [])),
    ];
    const boards = buildDashboards().map((b) => JSON.parse(JSON.stringify(b)) as DashboardJson);
    const read = new Set(boards.flatMap(sqlOf).flatMap((s) => [...s.matchAll(/\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)\b/gi)].map((m) => m[1]!)));
    const tables = new Set((await rows<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String}', { db })).map((r) => r.name));
    const dashboardTables = [...read].filter((t) => tables.has(t)).sort();
    expect(dashboardTables.length).toBeGreaterThan(8);
    expect(dashboardTables.filter((t) => !tenantTables(db).includes(t))).toEqual([]);
  });
});

describe('customer dashboards', () => {
  const operator = buildDashboards().map((b) => JSON.parse(JSON.stringify(b)) as DashboardJson);
  const customer = buildCustomerDashboards().map((b) => JSON.parse(JSON.stringify(b)) as DashboardJson);

  it('have no customer dropdown and never refer to it', () => {
    for (const b of customer) {
      expect(b.templating.list.map((v) => v.name), b.uid).not.toContain('customer');
      expect(JSON.stringify(b), b.uid).not.toMatch(/\$\{?customer\b|var-customer/);
    }
  });

  it('have the same panels, whose SQL is what the operator boards send with Customer = All', () => {
    const vars = (b: DashboardJson): Record<string, TemplateVariable> =>
      Object.fromEntries(b.templating.list.map((v) => [v.name, v.type === 'textbox' ? { value: 'x' } : { value: [ALL], options: ['o'] }]));
    const time = { fromMs: 0, toMs: 3_600_000, intervalMs: 60_000 };
    let compared = 0;
    for (const [i, op] of operator.entries()) {
      const cu = customer[i]!;
      expect(queryPanels(cu).map((p) => [p.id, p.title])).toEqual(queryPanels(op).map((p) => [p.id, p.title]));
      for (const [j, p] of queryPanels(op).entries()) {
        for (const [k, t] of (p.targets ?? []).entries()) {
          expect(expandQuery(queryPanels(cu)[j]!.targets![k]!.rawSql, { ...time, variables: vars(cu) })).toBe(expandQuery(t.rawSql, { ...time, variables: vars(op) }));
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  it('refuses a board that would still refer to the dropdown', () => {
    const board = buildDashboards()[0]!;
    const broken = { ...board, description: 'see ${customer}' };
    expect(() => customerVariant(broken)).toThrow(/still refers to the customer dropdown/);
  });

  it("the customer's Grafana provisioning: its organisation, its user and database, the customer boards", () => {
    const files = customerGrafanaFiles({ customerId: 'acme', orgId: 3 });
    const ds = files.get('provisioning/datasources/tenant_acme.yaml')!;
    expect(ds).toContain('orgId: 3');
    expect(ds).toContain('username: "tenant_acme"');
    expect(ds).toContain('defaultDatabase: "tenant_acme"');
    expect(ds).toContain(`password: "\${${passwordEnv('acme')}}"`);
    expect(files.get('provisioning/dashboards/tenant_acme.yaml')).toContain('path: "/var/lib/grafana/dashboards/tenant_acme"');
    expect([...files.keys()].filter((f) => f.startsWith('dashboards/tenant_acme/'))).toHaveLength(customer.length);
    expect(() => customerGrafanaFiles({ customerId: 'acme', orgId: 0 })).toThrow(/orgId/);
  });
});

describe('npm run tenants', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/tenants.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CLICKHOUSE_DATA_DIR: join(engine!.dir, 'unused') },
    });

  it.each([['add', 'acme', '--org-id', '2'], ['list'], ['remove', 'acme']])('refuses %s in embedded mode, saying why', (...args) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('needs server mode (CLICKHOUSE_URL)');
    expect(r.stderr).toContain('sql <customer>');
    expect(r.stdout).toBe('');
  });

  it('sql prints the DDL in embedded mode, and nothing else runs', () => {
    const r = run('sql', 'acme');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('CREATE DATABASE IF NOT EXISTS tenant_acme');
    expect(r.stdout.match(/CREATE OR REPLACE VIEW tenant_acme\./g)).toHaveLength(tenantTables(db).length);
    expect(r.stdout).toContain('GRANT SELECT ON tenant_acme.* TO tenant_acme;');
  });

  it('explains bad usage', () => {
    expect(run('sql').stderr).toContain('a customer id is required');
    expect(run('frobnicate').stderr).toContain('usage: npm run tenants');
    expect(run('sql', '').status).toBe(2);
  });
});
