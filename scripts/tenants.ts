/**
 * npm run tenants -- add <customer> --org-id N [--out DIR]   views + user (server mode); prints the password once
 *                                                            and writes the customer's Grafana provisioning
 * npm run tenants -- list                                    the customers that have a tenant database
 * npm run tenants -- remove <customer>                       drops the customer's user and views (not its data)
 * npm run tenants -- sql <customer>                          prints the DDL, runs nothing (any mode)
 * Customer-facing access needs server mode (CLICKHOUSE_URL): the embedded engine has one identity.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadConfigOrExit, type Config } from '../config/env.js';
import { clickhouseMode, createClickHouse } from '../clickhouse/client.js';
import { dropTenantDdl, tenantUserDdl, tenantViewsDdl } from '../tenancy/ddl.js';
import { customerGrafanaFiles, passwordEnv } from '../tenancy/grafana.js';
import { tenantName, TenantNameError } from '../tenancy/identifier.js';
import { listTenants, runStatements } from '../tenancy/tenants.js';

const usage = 'usage: npm run tenants -- add <customer> --org-id N [--out DIR] | list | remove <customer> | sql <customer>';

export class UsageError extends Error {}

function parse(argv: string[]) {
  const [command, ...rest] = argv;
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a.startsWith('--')) flags.set(a.slice(2), rest[++i] ?? '');
    else positional.push(a);
  }
  return { command, customer: positional[0], flags };
}

const newPassword = () => randomBytes(24).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function requireCustomer(customer: string | undefined): string {
  if (!customer) throw new UsageError(`a customer id is required\n${usage}`);
  tenantName(customer);
  return customer;
}

async function main(argv: string[], config: Config): Promise<void> {
  const { command, customer, flags } = parse(argv);
  const base = { database: config.CLICKHOUSE_DATABASE, cluster: config.CLICKHOUSE_CLUSTER };
  if (command === 'sql') {
    const customerId = requireCustomer(customer);
    const password = newPassword();
    console.log(`-- ${tenantName(customerId)}: views, then the user (password for this rendering: ${password})`);
    for (const s of [...tenantViewsDdl({ ...base, customerId }), ...tenantUserDdl({ ...base, customerId, passwordSha256: sha256(password) })]) console.log(`${s};\n`);
    return;
  }
  if (!['add', 'list', 'remove'].includes(command ?? '')) throw new UsageError(usage);
  if (clickhouseMode(config) === 'embedded') {
    throw new UsageError(
      'npm run tenants needs server mode (CLICKHOUSE_URL): the embedded engine has one identity, so it cannot give a customer its own user. ' +
        '`npm run tenants -- sql <customer>` prints the DDL to run on a server.',
    );
  }
  const client = createClickHouse(config);
  try {
    if (command === 'list') {
      for (const t of await listTenants(client)) console.log(`${t.customerId}\t${t.database}`);
      return;
    }
    const customerId = requireCustomer(customer);
    if (command === 'remove') {
      await runStatements(client, dropTenantDdl({ ...base, customerId }));
      console.log(`removed ${tenantName(customerId)} (user and views; the data stays in ${config.CLICKHOUSE_DATABASE})`);
      return;
    }
    const orgId = Number(flags.get('org-id'));
    if (!Number.isInteger(orgId) || orgId < 1) throw new UsageError(`--org-id N is required: the Grafana organisation created for this customer\n${usage}`);
    const password = newPassword();
    await runStatements(client, [...tenantViewsDdl({ ...base, customerId }), ...tenantUserDdl({ ...base, customerId, passwordSha256: sha256(password) })]);
    const out = resolve(flags.get('out') || join('.data', 'grafana-tenants', tenantName(customerId)));
    for (const [path, content] of customerGrafanaFiles({ customerId, orgId })) {
      mkdirSync(dirname(join(out, path)), { recursive: true });
      writeFileSync(join(out, path), content);
    }
    console.log(`created ${tenantName(customerId)}: database and user ${tenantName(customerId)}`);
    console.log(`password (shown once; give it to Grafana as ${passwordEnv(customerId)}): ${password}`);
    console.log(`Grafana provisioning for organisation ${orgId} written to ${out}`);
  } finally {
    await client.close();
  }
}

const config = loadConfigOrExit();
main(process.argv.slice(2), config).catch((err: unknown) => {
  const known = err instanceof UsageError || err instanceof TenantNameError;
  console.error(known ? (err as Error).message : `tenants failed: ${(err as Error).message}`);
  process.exitCode = known ? 2 : 1;
});
