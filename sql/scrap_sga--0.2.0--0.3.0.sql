-- scrap_sga 0.2.0 -> 0.3.0 (ALTER EXTENSION scrap_sga UPDATE). See UPDATING.md.
-- Tables that hold data are altered in place, never recreated: mirror tables (not members of the
-- extension), cursors, the run log, the audit log and the retry queue keep every row. New
-- columns are appended, as in a fresh 0.3.0 install, so that both have the same catalog
-- (tests/upgrade_test.sh compares them).
\echo Use "ALTER EXTENSION scrap_sga UPDATE TO '0.3.0'" to load this file. \quit

-- What fields_get says besides types: digits (amounts become numeric), selection choices, a
-- one2many's inverse. Every model asks fields_get again at its next run to fill them in; an
-- amount column that was double precision is then converted to numeric in place.
ALTER TABLE scrap_sga.model_field
    ADD COLUMN digits integer[],
    ADD COLUMN selection jsonb,
    ADD COLUMN relation_field text;
UPDATE scrap_sga.model SET schema_checked_at = NULL;

-- The status view's last run and last success of each model, read from an index.
CREATE INDEX sync_run_model_run_id_idx ON scrap_sga.sync_run (model, run_id DESC);
CREATE INDEX sync_run_model_succeeded_idx ON scrap_sga.sync_run (model, run_id DESC) WHERE status = 'succeeded';

-- The status view reads the kept count of live rows instead of counting the table at each call
-- (same columns, so views of the DBA's own built on it stay valid).
-- One row per model: how fresh the mirror is and how its runs went. Its subqueries name their
-- columns: a view keeps the columns `*` meant when it was created, whatever is added later.
-- Cheap whatever the size of the mirror and of the run log (0.3.0): the live rows are the count
-- every write keeps in scrap_sga.model.live_rows (counting a large table on every call took
-- long enough to make the planner JIT-compile the view), and the last runs come from indexes.
CREATE OR REPLACE VIEW scrap_sga.status AS
SELECT m.model,
       format('%I.%I', m.table_schema, m.table_name) AS mirror_table,
       m.enabled,
       m.live_rows AS rows,
       last.run_id AS last_run_id,
       CASE WHEN last.status = 'running' AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = last.backend_pid)
            THEN 'failed' ELSE last.status END AS last_status,
       last.started_at AS last_run_at,
       last.error AS last_error,
       ok.finished_at AS last_success_at,
       now() - ok.finished_at AS lag,
       (SELECT count(*) FROM scrap_sga.failed_record f WHERE f.model = m.model) AS waiting_retry,
       CASE WHEN pg_is_in_recovery() THEN 'standby: idle until promotion (the tables arrive by replication)'
            WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.backend_type = 'scrap_sga scheduler' AND a.datname = current_database())
                THEN 'not running (is scrap_sga in shared_preload_libraries, and scrap_sga.database this database?)'
            WHEN w.pid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.pid)
                THEN 'starting (it looks for the extension every 10 s)'
            ELSE w.state END AS worker,
       CASE WHEN w.state IN ('idle', 'backing off') AND NOT pg_is_in_recovery() THEN w.next_run_at END AS next_run_at,
       w.consecutive_failures AS worker_failures,
       m.cursor,
       m.reconciled_at
FROM scrap_sga.model m
LEFT JOIN scrap_sga.worker_state w ON true
LEFT JOIN LATERAL (SELECT r.run_id, r.status, r.started_at, r.error, r.backend_pid FROM scrap_sga.sync_run r
                   WHERE r.model = m.model ORDER BY r.run_id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (SELECT r.finished_at FROM scrap_sga.sync_run r
                   WHERE r.model = m.model AND r.status = 'succeeded' ORDER BY r.run_id DESC LIMIT 1) ok ON true;
DROP FUNCTION scrap_sga._live_rows(regclass);
COMMENT ON VIEW scrap_sga.status IS 'Per model: live rows (as kept by the sync), last run and its status, last success, lag since it, records waiting for a retry, the background worker and its next run.';

-- Register an Odoo model to mirror: the next sync asks Odoo for its fields, creates the table
-- and copies every record. One call instead of an INSERT that must know the catalog's columns.
CREATE FUNCTION scrap_sga.add_model(model text, table_name name DEFAULT NULL, table_schema name DEFAULT 'public',
                                    sync_order integer DEFAULT 100)
RETURNS scrap_sga.model
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    derived text := 'scrap_' || replace(add_model.model, '.', '_');
    added scrap_sga.model;
BEGIN
    IF add_model.model IS NULL OR add_model.model !~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' THEN
        RAISE EXCEPTION 'scrap_sga.add_model: % is not an Odoo model name (lowercase words joined by dots, as res.partner)', coalesce(add_model.model, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF add_model.table_name IS NULL AND octet_length(derived) > 63 THEN
        RAISE EXCEPTION 'scrap_sga.add_model: the table name % derived from % is longer than 63 bytes', derived, add_model.model
            USING ERRCODE = '22023', HINT = 'Name the table: scrap_sga.add_model(model, table_name => ''...'').';
    END IF;
    IF EXISTS (SELECT 1 FROM scrap_sga.model m WHERE m.model = add_model.model) THEN
        RAISE EXCEPTION 'scrap_sga.add_model: % is mirrored already (see scrap_sga.model)', add_model.model USING ERRCODE = '42710';
    END IF;
    IF EXISTS (SELECT 1 FROM scrap_sga.model m WHERE m.table_schema = add_model.table_schema AND m.table_name = coalesce(add_model.table_name, derived)) THEN
        RAISE EXCEPTION 'scrap_sga.add_model: another model is mirrored into %.% already', add_model.table_schema, coalesce(add_model.table_name, derived)
            USING ERRCODE = '42P07';
    END IF;
    INSERT INTO scrap_sga.model (model, table_schema, table_name, sync_order)
    VALUES (add_model.model, add_model.table_schema, coalesce(add_model.table_name, derived), add_model.sync_order)
    RETURNING * INTO added;
    RETURN added;
END
$$;
COMMENT ON FUNCTION scrap_sga.add_model(text, name, name, integer) IS
'Mirror one more Odoo model: its table (scrap_ and the model name with dots as underscores, unless named) is created and filled by the next sync. Settings per model are columns of scrap_sga.model.';

-- Privileges and function attributes, in one place. The install script ends with this file,
-- and so does every upgrade script (sql/scrap_sga--A--B.sql), verbatim: tests/upgrade_test.sh
-- checks it. Every statement here can run again harmlessly.
--
-- Privileges. PUBLIC gets nothing. Two roles for the DBA to grant:
--   scrap_sga_reader:   what Django needs: SELECT on the mirror tables (granted as each is
--                       created), the status view, the run log and the audit log;
--   scrap_sga_operator: a reader who may also sync, resync, reconcile and verify.
-- Nobody but the owner reads scrap_sga.connection (the secret) or writes a mirror table: syncs
-- run in a worker connected as the extension's owner, and the entry points below are
-- SECURITY DEFINER with a fixed search_path.
-- Roles are cluster-wide: another database may be creating them at this very moment.
DO $$
BEGIN
    BEGIN
        CREATE ROLE scrap_sga_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE scrap_sga_operator NOLOGIN IN ROLE scrap_sga_reader;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA scrap_sga FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA scrap_sga FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA scrap_sga FROM PUBLIC;
REVOKE ALL ON SCHEMA scrap_sga FROM PUBLIC;

GRANT USAGE ON SCHEMA scrap_sga TO scrap_sga_reader;
GRANT SELECT ON scrap_sga.status, scrap_sga.worker_state, scrap_sga.sync_run, scrap_sga.model, scrap_sga.model_field,
                scrap_sga.audit_log, scrap_sga.failed_record TO scrap_sga_reader;

ALTER FUNCTION scrap_sga._run_and_report(text, text, bigint) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION scrap_sga.run_job(text, text, bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION scrap_sga.sync(text), scrap_sga.resync(bigint, text), scrap_sga.resync_failed(text),
                          scrap_sga.full_resync(text), scrap_sga.reconcile(text), scrap_sga.verify(text),
                          scrap_sga._run_and_report(text, text, bigint)
      TO scrap_sga_operator;
