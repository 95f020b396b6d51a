import { createHash } from 'node:crypto';

/**
 * The name of a customer's tenant database, which is also the name of its ClickHouse user:
 * `tenant_` + the customer id lower-cased with every character outside [a-z0-9] turned into `_`
 * (runs collapsed, cut to 40 characters). When that changes the id in any way (case, symbols,
 * length), 8 hex characters of the id's SHA-256 are appended, so two customer ids never share a
 * name: `acme` -> `tenant_acme`, `Acme Corp` -> `tenant_acme_corp_<hash>`.
 * Empty ids have no tenant: rows without a customer are visible to operators only.
 */
export const tenantPrefix = 'tenant_';
const MAX_STEM = 40;

export class TenantNameError extends Error {}

export function tenantName(customerId: string): string {
  if (customerId.trim() === '') throw new TenantNameError('a customer id is required (rows without one are visible to operators only)');
  if (customerId.length > 128) throw new TenantNameError('a customer id has at most 128 characters (as ingest accepts)');
  const stem = customerId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_STEM)
    .replace(/_+$/, '');
  if (stem === customerId) return `${tenantPrefix}${stem}`;
  const hash = createHash('sha256').update(customerId).digest('hex').slice(0, 8);
  return `${tenantPrefix}${stem ? `${stem}_` : ''}${hash}`;
}

/** A string as a ClickHouse string literal (backslash and quote escaped). */
export const sqlString = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
