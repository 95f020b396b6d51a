-- One table as a customer sees it: its rows only. SQL SECURITY DEFINER runs the SELECT with the
-- rights of {{definer}} (the operator account that created it), so the customer's user needs a
-- grant on this view alone and none on {{db}}. `SELECT *` is expanded when the view is created:
-- `migrate` re-creates the views of every tenant after each run, so new columns follow.
CREATE OR REPLACE VIEW {{tenant_db}}.{{table}}
DEFINER = {{definer}} SQL SECURITY DEFINER
AS SELECT * FROM {{db}}.{{table}} WHERE customer_id = {{customer}};
