import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usersXml, tenantProfileName } from '../../tenancy/access.js';
import { tenantGrants } from '../../tenancy/ddl.js';

/**
 * Two customers with a marker in every column that can hold text, and one operator-only row
 * (no customer). The isolation test loads them as the operator, then reads as customer A.
 */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DB = 'observability';
export const A = { id: 'alpha', marker: 'mk7alpha' } as const;
export const B = { id: 'bravo', marker: 'mk9bravo' } as const;
/** rows without a customer: operators only */
export const NOBODY = { id: '', marker: 'mk0nobody' } as const;
/** the operator account the tenant views run as (deploy/clickhouse/users.d's writer) */
export const DEFINER = 'writer';

const MIN = 60_000;
const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

export function worldRows(now: number, c: { id: string; marker: string }): Record<string, Record<string, unknown>[]> {
  const m = c.marker;
  const base = { link_id: `lnk-${m}`, external_id: `ext-${m}`, institution: `inst_${m}`, customer_id: c.id, batch_id: `batch-${m}` };
  const request = (n: number, minutesAgo: number, status: number) => ({
    ...base,
    request_id: `req-${m}-${n}`,
    timestamp: ts(now - minutesAgo * MIN),
    method: 'GET',
    endpoint: `/api/${m}/accounts/`,
    status_code: status,
    duration_ms: 100 + n,
    source: `src-${m}`,
    error_code: status >= 400 ? `code_${m}` : '',
    error_message: status >= 400 ? `message ${m}` : '',
    error_origin: status >= 400 ? `origin-${m}` : '',
    response_body: status >= 400 ? JSON.stringify({ code: `code_${m}`, message: `body ${m}` }) : '',
  });
  const { institution: _notInAttempts, ...attemptBase } = base;
  const attempt = (n: number, minutesAgo: number, status: number | null) => ({
    ...attemptBase,
    webhook_id: `wh-${m}`,
    event: `ev_${m}`,
    type: `TY_${m}`,
    attempt: n,
    url: `https://${m}.example/hook`,
    status_code: status,
    timestamp: ts(now - minutesAgo * MIN),
    error: status === null ? `timeout ${m}` : '',
    duration_ms: 80,
    payload: JSON.stringify({ webhook_id: `wh-${m}`, data: m }),
  });
  const link = (status: string, access_mode: string, suffix: string, minutesAgo: number) => ({
    ...base,
    link_id: `lnk-${m}${suffix}`,
    status,
    access_mode,
    created_at: ts(now - 3 * 24 * 60 * MIN),
    updated_at: ts(now - minutesAgo * MIN),
  });
  const alert = {
    rule_uid: `rule-${m}`,
    institution: `inst_${m}`,
    customer_id: c.id,
    state: 'firing',
    previous_state: 'pending',
    at: ts(now - 10 * MIN),
    active_since: ts(now - 15 * MIN),
    window_start: ts(now - 40 * MIN),
    window_end: ts(now - 10 * MIN),
    requests: 3,
    errors: 2,
    error_ratio: 0.66,
    baseline_ratio: 0.1,
    threshold: 0.3,
    sample_request_ids: [`req-${m}-2`],
  };
  return {
    request_logs: [request(1, 50, 200), request(2, 40, 500), request(3, 30, 428), request(4, 20, 200)],
    webhook_attempts: [attempt(1, 45, null), attempt(2, 35, 500), attempt(3, 25, 200)],
    links: [link('valid', 'recurrent', '', 60), link(`st-${m}`, `am-${m}`, '-2', 30)],
    alerts: [alert],
  };
}

/** deploy/clickhouse/users.d's writer: its grants, so the views' definer has what it has in production. */
export function deployWriterGrants(): string[] {
  const xml = readFileSync(join(root, 'deploy/clickhouse/users.d/observability.xml'), 'utf8');
  const writer = /<writer>([\s\S]*?)<\/writer>/.exec(xml)?.[1];
  if (!writer) throw new Error('deploy/clickhouse/users.d/observability.xml has no writer');
  return [...writer.matchAll(/<query>([\s\S]*?)<\/query>/g)].map((q) => q[1]!.trim());
}

/**
 * An engine configuration directory: config.xml with deploy/clickhouse/config.d merged next to
 * it, and a users config in which `default` (chdb's only identity) is either the operator or
 * customer A with exactly the grants `npm run tenants` gives it.
 */
export function writeEngineConfig(dir: string, as: 'operator' | 'customer', opts: { constraints?: boolean } = {}): string {
  mkdirSync(join(dir, 'config.d'), { recursive: true });
  const deployConfigD = join(root, 'deploy/clickhouse/config.d');
  for (const f of readdirSync(deployConfigD)) copyFileSync(join(deployConfigD, f), join(dir, 'config.d', f));
  const users = join(dir, 'users.xml');
  writeFileSync(join(dir, 'config.xml'), `<clickhouse>\n  <users_config>${users}</users_config>\n</clickhouse>\n`);
  const definer = { name: DEFINER, profile: 'default', grants: deployWriterGrants() };
  const self =
    as === 'operator'
      ? { name: 'default', profile: 'default' }
      : { name: 'default', profile: tenantProfileName, grants: tenantGrants({ database: DB, customerId: A.id }) };
  // chdb 3.4 does not apply access_control_improvements, so a profile with changeable_in_readonly
  // cannot load (isolation.test.ts checks that it still cannot): max_execution_time is fixed here.
  writeFileSync(users, usersXml([self, definer], { constraints: opts.constraints ?? false }));
  return join(dir, 'config.xml');
}
