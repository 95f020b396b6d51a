import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMigrations, renderSql, splitStatements, sqlDir } from '../clickhouse/migrate.js';
import { renderAccessForCluster } from '../clickhouse/cluster.js';
import { profileSettingsSql, tenantProfileName } from './access.js';
import { sqlString, tenantName } from './identifier.js';

/**
 * A template of sql/tenant/ (SQL stays in .sql files; {{name}} placeholders as in migrations).
 * Resolved at call time: clickhouse/migrate.ts imports this module through tenancy/tenants.ts.
 */
const template = (file: string) => readFileSync(join(sqlDir, 'tenant', file), 'utf8');

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS \w+\.(\w+)\s*\(([\s\S]*)\)\s*ENGINE\b/;
const ADD_CUSTOMER = /^ALTER TABLE \w+\.(\w+)\s+ADD COLUMN (?:IF NOT EXISTS )?customer_id\b/;
/** A plain view (a table may become one: sql/018), and its select list. */
const CREATE_VIEW = /^CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?\w+\.(\w+) AS\s+SELECT\s([\s\S]*?)\sFROM\s/;

/**
 * Every table and plain view of the migrations that has a customer_id column, in migration order:
 * each gets a view in every tenant database. Read from the migrations themselves, so a table added
 * later is covered without a list to update (test/tenancy checks this against the migrated engine).
 * A name replaced by a view keeps its tenant view while the view still shows customer_id.
 */
export function tenantTables(database = 'observability'): string[] {
  const tables: string[] = [];
  for (const m of loadMigrations(database)) {
    for (const s of m.statements) {
      const created = CREATE_TABLE.exec(s);
      const view = CREATE_VIEW.exec(s);
      if (view && !/\bcustomer_id\b/.test(view[2]!)) {
        if (tables.includes(view[1]!)) tables.splice(tables.indexOf(view[1]!), 1);
        continue;
      }
      const name = created && /^\s*customer_id\s/m.test(created[2]!) ? created[1]! : (view?.[1] ?? ADD_CUSTOMER.exec(s)?.[1]);
      if (name && !tables.includes(name)) tables.push(name);
    }
  }
  return tables;
}

export interface TenantDdlOptions {
  /** the operator database (CLICKHOUSE_DATABASE) */
  database: string;
  customerId: string;
  /** who the views run as: CURRENT_USER (default, the account running the command) or a user name */
  definer?: string;
  /** CLICKHOUSE_CLUSTER: every statement ON CLUSTER */
  cluster?: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
function definerSql(definer = 'CURRENT_USER'): string {
  if (definer === 'CURRENT_USER') return definer;
  if (!IDENT.test(definer)) throw new Error(`view definer must be a plain user name: ${definer}`);
  return definer;
}

function vars(o: TenantDdlOptions): Record<string, string> {
  if (!IDENT.test(o.database)) throw new Error(`database must be a plain identifier: ${o.database}`);
  const tenant = tenantName(o.customerId);
  return { db: o.database, tenant_db: tenant, user: tenant, customer: sqlString(o.customerId), definer: definerSql(o.definer), profile: tenantProfileName };
}

const clustered = (statements: string[], cluster?: string) => (cluster ? statements.map((s) => renderAccessForCluster(s, cluster)) : statements);

/** The tenant database and one view per tenant table (idempotent: what `migrate` re-runs). */
export function tenantViewsDdl(o: TenantDdlOptions): string[] {
  const v = vars(o);
  const statements = [
    ...splitStatements(renderSql(template('database.sql'), v)),
    ...tenantTables(o.database).flatMap((table) => splitStatements(renderSql(template('view.sql'), { ...v, table }))),
  ];
  return clustered(statements, o.cluster);
}

/** The settings profile, the customer's user and its one grant. */
export function tenantUserDdl(o: TenantDdlOptions & { passwordSha256: string }): string[] {
  if (!/^[0-9a-f]{64}$/.test(o.passwordSha256)) throw new Error('passwordSha256 must be 64 hex characters');
  const v = { ...vars(o), profile_settings: profileSettingsSql(), password_sha256: sqlString(o.passwordSha256) };
  return clustered(splitStatements(renderSql(template('user.sql'), v)), o.cluster);
}

/** What the customer's user is granted, in a users config's <grants><query> form (no `TO user`). */
export function tenantGrants(o: TenantDdlOptions): string[] {
  const user = tenantName(o.customerId);
  return tenantUserDdl({ ...o, cluster: undefined, passwordSha256: '0'.repeat(64) })
    .filter((s) => s.startsWith('GRANT '))
    .map((s) => s.replace(new RegExp(`\\s+TO ${user}$`), ''));
}

/** Drops the customer's user and tenant database. */
export function dropTenantDdl(o: TenantDdlOptions): string[] {
  return clustered(splitStatements(renderSql(template('drop.sql'), vars(o))), o.cluster);
}
