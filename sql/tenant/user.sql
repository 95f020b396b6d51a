-- A customer's ClickHouse user: read-only, with limits (tenancy/access.ts has the profile's
-- settings), and SELECT on its tenant database only. No grant on {{db}} or on system: the server
-- is configured with select_from_system_db_requires_grant (deploy/clickhouse/config.d).
CREATE SETTINGS PROFILE OR REPLACE {{profile}} SETTINGS {{profile_settings}};

CREATE USER {{user}} IDENTIFIED WITH sha256_hash BY {{password_sha256}}
DEFAULT DATABASE {{tenant_db}} SETTINGS PROFILE {{profile}};

GRANT SELECT ON {{tenant_db}}.* TO {{user}};
