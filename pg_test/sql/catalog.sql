-- What CREATE EXTENSION gives a DBA, and the errors an operator meets before any Odoo is set up.
CREATE EXTENSION scrap_sga;

-- The two models registered by default, mirrored into public under their Django names.
SELECT model, table_schema, table_name, enabled, page_size, lookback, cursor
FROM scrap_sga.model ORDER BY sync_order;

-- The SQL interface.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'scrap_sga' AND p.proname NOT LIKE '\_%' ORDER BY 1, 2;

-- The connection must be a URL; the error never shows the secret.
SELECT scrap_sga.set_connection('erp.example.com', 'db', 'admin', 'hunter2');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', 'admin', '');
-- The protocol is one of three; JSON-RPC needs a login, JSON-2 does not; a key comes inline or
-- from a file, never both.
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', protocol => 'xmlrpc');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', protocol => 'jsonrpc');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', secret_file => '/etc/key');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret_file => 'relative/key');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret_file => '/nonexistent/odoo-api-key');

-- Syncing before any connection is set: a clear error, and a failed run per model in the log.
SELECT * FROM scrap_sga.sync();
SELECT model, trigger, status, sqlstate, error FROM scrap_sga.sync_run ORDER BY run_id;

-- An unknown model.
SELECT * FROM scrap_sga.sync('no.such.model');

-- sync() needs READ COMMITTED: at REPEATABLE READ its caller could not see the result.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM scrap_sga.sync();
ROLLBACK;

-- DROP EXTENSION removes the catalog; the schema it was created in stays, empty.
-- (Mirror tables are not extension members: see the end-to-end test drop_extension_keeps_the_data.)
DROP EXTENSION scrap_sga;
SELECT count(*) AS objects_left FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'scrap_sga';
