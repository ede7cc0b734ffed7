-- What CREATE EXTENSION gives a DBA, and the errors an operator meets before any Odoo is set up.
CREATE EXTENSION scrap_sga;

-- No model yet: the first connection registers the two this extension is for (registered by
-- CREATE EXTENSION, they made every restore of a pg_dump fail: dump_restore in the e2e tests).
SELECT count(*) AS models FROM scrap_sga.model;

-- Syncing before any connection is set: a clear error, and a failed run per model in the log.
SELECT model FROM scrap_sga.add_model('res.partner');
SELECT * FROM scrap_sga.sync();
SELECT model, trigger, status, sqlstate, error FROM scrap_sga.sync_run ORDER BY run_id;
DELETE FROM scrap_sga.model WHERE model = 'res.partner';

-- The first connection: the two models, mirrored into public under their Django names, with
-- the defaults every model starts from. (A failed run is not a sync: they come all the same.)
SELECT scrap_sga.set_connection('http://127.0.0.1:9', 'db', secret => 'k');
SELECT model, table_schema, table_name, enabled, page_size, lookback, schema_refresh, reconcile_every,
       audit, parallel, cursor
FROM scrap_sga.model ORDER BY sync_order;

-- The SQL interface.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'scrap_sga' AND p.proname NOT LIKE '\_%' ORDER BY 1, 2;

-- One more model: add_model() derives its table's name; a model already mirrored, or a table
-- another model fills, is refused.
SELECT model, table_schema, table_name FROM scrap_sga.add_model('res.partner');
SELECT scrap_sga.add_model('res.partner');
SELECT scrap_sga.add_model('res.partner.bank', table_name => 'scrap_res_partner');
DELETE FROM scrap_sga.model WHERE model = 'res.partner';

-- Fields a model cannot do without are never left out.
SELECT scrap_sga.exclude_field('dimagaz.bc', 'id');
SELECT scrap_sga.exclude_field('dimagaz.bc', 'write_date');

-- An unknown model.
SELECT * FROM scrap_sga.sync('no.such.model');

-- sync() needs READ COMMITTED: at REPEATABLE READ its caller could not see the result.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM scrap_sga.sync();
ROLLBACK;

-- DROP EXTENSION removes the catalog; the schema it was created in stays, empty. (Mirror tables
-- are not extension members: drop_extension.sql.)
DROP EXTENSION scrap_sga;
SELECT count(*) AS objects_left FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'scrap_sga';
