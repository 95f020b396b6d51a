-- Removes a customer's user and its tenant database (the views only: the data stays in {{db}}).
DROP USER IF EXISTS {{user}};

DROP DATABASE IF EXISTS {{tenant_db}};
