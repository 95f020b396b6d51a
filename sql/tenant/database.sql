-- A customer's tenant database (tenancy/): one view per table that has a customer_id, under the
-- table's own name, so the generated dashboards run unchanged through a data source whose default
-- database is this one. The comment holds the customer id: `npm run tenants -- list` and `migrate`
-- find the tenants by it.
CREATE DATABASE IF NOT EXISTS {{tenant_db}} COMMENT {{customer}};
