import type { ClickHouseClient } from '@clickhouse/client';
import { tenantPrefix, tenantName } from './identifier.js';
import { tenantViewsDdl, type TenantDdlOptions } from './ddl.js';

export interface Tenant {
  customerId: string;
  database: string;
}

/**
 * The tenants on a server: the tenant databases, whose comment holds the customer id. A database
 * whose name does not derive from its comment is not ours and is left alone.
 */
export async function listTenants(client: ClickHouseClient): Promise<Tenant[]> {
  const rows = await (
    await client.query({
      query: 'SELECT name, comment FROM system.databases WHERE startsWith(name, {prefix:String}) ORDER BY name',
      query_params: { prefix: tenantPrefix },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; comment: string }>();
  return rows
    .filter((r) => {
      try {
        return r.comment !== '' && tenantName(r.comment) === r.name;
      } catch {
        return false;
      }
    })
    .map((r) => ({ customerId: r.comment, database: r.name }));
}

export async function runStatements(client: ClickHouseClient, statements: string[]): Promise<void> {
  for (const query of statements) await client.command({ query });
}

/**
 * Re-creates every tenant's views (after migrations): a table that gained customer_id, or a new
 * rollup, gets its view, and `SELECT *` views pick up new columns.
 */
export async function refreshTenantViews(
  client: ClickHouseClient,
  opts: Omit<TenantDdlOptions, 'customerId'> & { log?: (line: string) => void },
): Promise<Tenant[]> {
  const tenants = await listTenants(client);
  for (const t of tenants) {
    await runStatements(client, tenantViewsDdl({ ...opts, customerId: t.customerId }));
    opts.log?.(`tenant ${t.database}: views refreshed`);
  }
  return tenants;
}
