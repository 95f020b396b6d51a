/**
 * The settings profile every customer user gets, defined once: sql/tenant/user.sql renders it for
 * a server, and usersXml() for a users config (what the embedded engine loads in the isolation
 * test, test/tenancy/).
 */
export const tenantProfileName = 'tenant_viewer';

export const tenantProfile = {
  /** No writes, no DDL, no settings changes except those listed in changeableInReadonly. */
  readonly: 1,
  max_execution_time: 60,
  max_result_rows: 1_000_000,
  result_overflow_mode: 'throw',
  max_memory_usage: 2_000_000_000,
  max_concurrent_queries_for_user: 10,
} as const satisfies Record<string, number | string>;

/**
 * Settings a readonly user may still change, within bounds: the Grafana ClickHouse plugin sets
 * max_execution_time on every query (grafana/clickhouse-datasource docs/sources/configure.md:
 * "leave readonly=1 and set the constraint type of max_execution_time to changeable_in_readonly").
 * Needs the server's access_control_improvements.settings_constraints_replace_previous.
 */
export const changeableInReadonly = { max_execution_time: { max: 120 } } as const;

const settingValue = (v: number | string) => (typeof v === 'number' ? String(v) : `'${v}'`);

/** The profile's SETTINGS clause for CREATE SETTINGS PROFILE. */
export function profileSettingsSql(): string {
  return Object.entries(tenantProfile)
    .map(([name, value]) => {
      const bound = (changeableInReadonly as Record<string, { max: number }>)[name];
      return `${name} = ${settingValue(value)}${bound ? ` MAX ${bound.max} CHANGEABLE_IN_READONLY` : ''}`;
    })
    .join(', ');
}

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface UsersXmlUser {
  name: string;
  /** GRANT statements without their `TO user` (the users config's <grants><query> form); none: all rights. */
  grants?: string[];
  profile?: string;
}

/**
 * A users config with the tenant profile (under `profileName`) and the given users, for engines
 * that read users from a file. `constraints: false` leaves out changeable_in_readonly, which a
 * config can only hold when the server enables settings_constraints_replace_previous.
 */
export function usersXml(users: UsersXmlUser[], opts: { profileName?: string; constraints?: boolean } = {}): string {
  const profileName = opts.profileName ?? tenantProfileName;
  const settings = Object.entries(tenantProfile).map(([k, v]) => `      <${k}>${xmlText(String(v))}</${k}>`);
  const constraints =
    opts.constraints === false
      ? []
      : [
          '      <constraints>',
          ...Object.entries(changeableInReadonly).map(([k, c]) => `        <${k}><max>${c.max}</max><changeable_in_readonly/></${k}>`),
          '      </constraints>',
        ];
  const userXml = users.flatMap((u) => [
    `    <${u.name}>`,
    '      <no_password/>',
    ...(u.profile ? [`      <profile>${u.profile}</profile>`] : []),
    ...(u.grants ? ['      <grants>', ...u.grants.map((g) => `        <query>${xmlText(g)}</query>`), '      </grants>'] : []),
    `    </${u.name}>`,
  ]);
  // The server's default_profile must exist whatever else the file defines.
  const defaultProfile = profileName === 'default' ? [] : ['    <default/>'];
  return ['<clickhouse>', '  <profiles>', ...defaultProfile, `    <${profileName}>`, ...settings, ...constraints, `    </${profileName}>`, '  </profiles>', '  <users>', ...userXml, '  </users>', '</clickhouse>', ''].join('\n');
}
