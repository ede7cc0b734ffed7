-- scrap_sga 0.1.0 -> 0.2.0 (ALTER EXTENSION scrap_sga UPDATE). See UPDATING.md.
-- Tables that hold data are altered in place, never recreated: mirror tables (not members of the
-- extension), cursors, the run log, the audit log and the retry queue keep every row. New
-- columns are appended, as in a fresh 0.2.0 install, so that both have the same catalog
-- (tests/upgrade_test.sh compares them).
\echo Use "ALTER EXTENSION scrap_sga UPDATE TO '0.2.0'" to load this file. \quit

-- The Odoo connection: JSON-2 with an API key (no login needed), the key from a file, the protocol.
ALTER TABLE scrap_sga.connection
    ALTER COLUMN login DROP NOT NULL,
    ALTER COLUMN secret DROP NOT NULL,
    ADD CONSTRAINT connection_secret_check CHECK (secret <> ''),
    ADD COLUMN secret_file text CHECK (secret_file ~ '^/'),
    ADD COLUMN protocol text NOT NULL DEFAULT 'auto' CHECK (protocol IN ('auto', 'json2', 'jsonrpc')),
    ADD CONSTRAINT connection_one_secret CHECK ((secret IS NULL) <> (secret_file IS NULL));

-- The window anchored on Odoo's clock (read_at; NULL until the first 0.2.0 run, which falls back on
-- the cursor as 0.1.0 did), the kept count of live rows (NULL: counted once by the next run), the
-- refresh of opted-in computed fields, and the streams a full pass may use (one, as in 0.1.0).
ALTER TABLE scrap_sga.model
    ADD COLUMN read_at timestamptz,
    ADD COLUMN live_rows bigint,
    ADD COLUMN computed_refresh interval NOT NULL DEFAULT '1 hour' CHECK (computed_refresh >= '0'),
    ADD COLUMN computed_refreshed_at timestamptz,
    ADD COLUMN parallel integer NOT NULL DEFAULT 1 CHECK (parallel BETWEEN 1 AND 16);
ALTER TABLE scrap_sga.model_field ADD COLUMN copy_computed boolean NOT NULL DEFAULT false;
-- A constant default adds a column without rewriting the (possibly large) run log.
ALTER TABLE scrap_sga.sync_run
    ADD COLUMN protocol text,
    ADD COLUMN repaired bigint NOT NULL DEFAULT 0;

-- The status view of 0.1.0 read sync_run with `*`, which froze its columns: it names them now.
CREATE OR REPLACE VIEW scrap_sga.status AS
SELECT m.model,
       format('%I.%I', m.table_schema, m.table_name) AS mirror_table,
       m.enabled,
       scrap_sga._live_rows(to_regclass(format('%I.%I', m.table_schema, m.table_name))) AS rows,
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

-- set_connection() gains secret_file and protocol: a new signature.
DROP FUNCTION scrap_sga.set_connection(text, text, text, text);
CREATE FUNCTION scrap_sga.set_connection(url text, database text, login text DEFAULT NULL, secret text DEFAULT NULL,
                                         secret_file text DEFAULT NULL, protocol text DEFAULT 'auto')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- A failed call must not write its statement, which may hold the secret, to the server log.
SET log_min_error_statement = 'panic'
AS $$
BEGIN
    -- Checked here rather than left to the table's constraints: a constraint violation would
    -- print the whole row, secret included, in its DETAIL.
    IF url IS NULL OR url !~ '^https?://[^/]+' THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: url must start with http:// or https:// (got %)', coalesce(url, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF coalesce(database, '') = '' THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: database must not be empty' USING ERRCODE = '22023';
    END IF;
    IF protocol IS NULL OR protocol NOT IN ('auto', 'json2', 'jsonrpc') THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: protocol must be auto, json2 or jsonrpc (got %)', coalesce(protocol, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF (coalesce(secret, '') = '') = (coalesce(secret_file, '') = '') THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: give either secret or secret_file, not both and not neither'
            USING ERRCODE = '22023';
    END IF;
    IF protocol = 'jsonrpc' AND coalesce(login, '') = '' THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: JSON-RPC needs a login (JSON-2 does not: its API key names the user)'
            USING ERRCODE = '22023';
    END IF;
    IF coalesce(secret_file, '') <> '' THEN
        -- The worker reads the file as the server's OS user, which may read any file the server
        -- can: only those allowed to read server files may name one.
        IF NOT pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') THEN
            RAISE EXCEPTION 'scrap_sga.set_connection: naming a secret_file needs the privileges of pg_read_server_files'
                USING ERRCODE = '42501';
        END IF;
        PERFORM scrap_sga._check_secret_file(secret_file);
    END IF;
    INSERT INTO scrap_sga.connection (url, database, login, secret, secret_file, protocol)
    VALUES (rtrim(url, '/'), database, nullif(login, ''), nullif(secret, ''), nullif(secret_file, ''), protocol)
    ON CONFLICT (singleton) DO UPDATE
       SET url = EXCLUDED.url, database = EXCLUDED.database, login = EXCLUDED.login, secret = EXCLUDED.secret,
           secret_file = EXCLUDED.secret_file, protocol = EXCLUDED.protocol, updated_at = now();
END
$$;
COMMENT ON FUNCTION scrap_sga.set_connection(text, text, text, text, text, text) IS
'Set the Odoo server to read from: base URL (https://erp.example.com), database, login (JSON-RPC only), and the password or API key, either as secret or as secret_file, an absolute path on this server to a file only its owner can read, read at every run. protocol: auto (default), json2 or jsonrpc.';


-- A row type for what the run functions return, instead of the same RETURNS TABLE six times:
-- their result type changes, so they are dropped and created again.
DROP FUNCTION scrap_sga.sync(text);
DROP FUNCTION scrap_sga.full_resync(text);
DROP FUNCTION scrap_sga.reconcile(text);
DROP FUNCTION scrap_sga.resync(bigint, text);
DROP FUNCTION scrap_sga.resync_failed(text);
DROP FUNCTION scrap_sga._run_and_report(text, text, bigint);
-- What sync(), resync(), full_resync(), reconcile() and resync_failed() return: one row per model.
CREATE TYPE scrap_sga.run_result AS (
    model text, status text, fetched bigint, inserted bigint, updated bigint, unchanged bigint,
    deleted bigint, restored bigint, failed bigint, duration interval, run_id bigint
);

CREATE FUNCTION scrap_sga.sync(only_model text DEFAULT NULL)
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report('sync', only_model) $$;
COMMENT ON FUNCTION scrap_sga.sync(text) IS
'Copy what changed in Odoo since the last run, for every enabled model or for the one named. Waits for a run of the same model already under way. One row per model; raises the first failure.';

CREATE FUNCTION scrap_sga._run_and_report(job text, only_model text, odoo_id bigint DEFAULT NULL)
RETURNS SETOF scrap_sga.run_result
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    inv bigint;
    f record;
BEGIN
    inv := scrap_sga.run_job(job, only_model, odoo_id);
    SELECT r.* INTO f FROM scrap_sga.sync_run r WHERE r.invocation = inv AND r.status = 'failed' ORDER BY r.run_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'scrap_sga: % of % failed: %', replace(job, '_', ' '), f.model || coalesce(' ' || odoo_id, ''), f.error
            USING ERRCODE = coalesce(f.sqlstate, 'XX000'),
                  HINT = format('The run log has the details: SELECT * FROM scrap_sga.sync_run WHERE invocation = %s;', inv);
    END IF;
    RETURN QUERY
        SELECT r.model, r.status, r.fetched, r.inserted, r.updated, r.unchanged, r.deleted, r.restored, r.failed,
               r.finished_at - r.started_at, r.run_id
        FROM scrap_sga.sync_run r WHERE r.invocation = inv ORDER BY r.run_id;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM scrap_sga.model m WHERE (only_model IS NULL AND m.enabled) OR m.model = only_model) THEN
        -- A job with a model to work on records a run, even a failed one: none means the worker
        -- ended before it could.
        RAISE EXCEPTION 'scrap_sga: % ended without recording a run', replace(job, '_', ' ')
            USING ERRCODE = 'XX000', HINT = 'The server log says why.';
    END IF;
END
$$;

CREATE FUNCTION scrap_sga.full_resync(only_model text DEFAULT NULL)
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report('full_resync', only_model) $$;
COMMENT ON FUNCTION scrap_sga.full_resync(text) IS
'Read every record of every enabled model (or of the one named) again, whatever the cursor says, and reconcile deletions. Unchanged rows are still not rewritten.';

CREATE FUNCTION scrap_sga.reconcile(only_model text DEFAULT NULL)
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report('reconcile', only_model) $$;
COMMENT ON FUNCTION scrap_sga.reconcile(text) IS
'A sync that also compares id sets with Odoo now (instead of every reconcile_every): soft-deletes what Odoo no longer has, reads what the mirror lacks.';

CREATE FUNCTION scrap_sga.resync(odoo_id bigint, model text DEFAULT 'dimagaz.bc')
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report('resync', model, odoo_id) $$;
COMMENT ON FUNCTION scrap_sga.resync(bigint, text) IS
'Read one record from Odoo now, with the records that point to it (an order with its lines); upsert them, or soft-delete what Odoo no longer has. One row per model touched.';

CREATE FUNCTION scrap_sga.resync_failed(only_model text DEFAULT NULL)
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report('resync_failed', only_model) $$;
COMMENT ON FUNCTION scrap_sga.resync_failed(text) IS
'Retry now every record waiting in scrap_sga.failed_record, whatever its next_attempt_at.';


-- The secret file's check (implemented in the library).
CREATE FUNCTION scrap_sga."_check_secret_file"(
	"path" TEXT /* & str */
) RETURNS bool /* bool */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'check_secret_file_wrapper';

-- After a run that changed rows: NOTIFY scrap_sga with what changed, for LISTEN scrap_sga.
-- Delivered when the calling transaction commits; nothing for a run that changed nothing.
CREATE FUNCTION scrap_sga._notify_changes(run bigint) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_notify('scrap_sga', json_build_object(
               'model', r.model, 'table', format('%I.%I', m.table_schema, m.table_name), 'run_id', r.run_id,
               'trigger', r.trigger, 'status', r.status, 'inserted', r.inserted, 'updated', r.updated,
               'deleted', r.deleted, 'restored', r.restored)::text)
    FROM scrap_sga.sync_run r JOIN scrap_sga.model m ON m.model = r.model
    WHERE r.run_id = run AND r.inserted + r.updated + r.deleted + r.restored > 0
$$;

CREATE FUNCTION scrap_sga.copy_computed_field(model text, field text, copy boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f scrap_sga.model_field;
BEGIN
    SELECT * INTO f FROM scrap_sga.model_field mf WHERE mf.model = copy_computed_field.model AND mf.field = copy_computed_field.field;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'scrap_sga.copy_computed_field: Odoo reported no field % on model % (see scrap_sga.model_field)', field, model
            USING ERRCODE = '42703';
    END IF;
    IF f.stored THEN
        RAISE EXCEPTION 'scrap_sga.copy_computed_field: %.% is stored by Odoo: it is copied already', model, field
            USING ERRCODE = '22023';
    END IF;
    UPDATE scrap_sga.model_field mf SET copy_computed = copy, changed_at = now()
     WHERE mf.model = copy_computed_field.model AND mf.field = copy_computed_field.field;
    -- The next run plans the model again: a new column, filled by a full pass.
    UPDATE scrap_sga.model m SET schema_checked_at = NULL WHERE m.model = copy_computed_field.model;
END
$$;
COMMENT ON FUNCTION scrap_sga.copy_computed_field(text, text, boolean) IS
'Copy (or stop copying) a field Odoo computes without storing it. Its value can change without write_date moving: besides being read with every record read, it is refreshed for every record every scrap_sga.model.computed_refresh (1 hour by default).';


-- Deletes runs older than scrap_sga.sync_run_retention, a batch at a time; returns how many. A
-- model's latest run is kept whatever its age (the status view reads it), and so is any run
-- still marked running.
CREATE FUNCTION scrap_sga.prune_runs(older_than interval DEFAULT NULL, batch integer DEFAULT 50000)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cutoff timestamptz := now() - coalesce(older_than, current_setting('scrap_sga.sync_run_retention', true)::interval, '90 days');
    n bigint;
BEGIN
    DELETE FROM scrap_sga.sync_run WHERE run_id IN (
        SELECT r.run_id FROM scrap_sga.sync_run r
        WHERE r.started_at < cutoff AND r.status <> 'running'
          AND r.run_id <> (SELECT max(l.run_id) FROM scrap_sga.sync_run l WHERE l.model = r.model)
        ORDER BY r.run_id LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION scrap_sga.prune_runs(interval, integer) IS
'Delete runs older than the retention (default: the scrap_sga.sync_run_retention setting) from scrap_sga.sync_run, at most batch rows per call; each model''s latest run is kept.';

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
GRANT EXECUTE ON FUNCTION scrap_sga._live_rows(regclass) TO scrap_sga_reader;

ALTER FUNCTION scrap_sga._run_and_report(text, text, bigint) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION scrap_sga.run_job(text, text, bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION scrap_sga.sync(text), scrap_sga.resync(bigint, text), scrap_sga.resync_failed(text),
                          scrap_sga.full_resync(text), scrap_sga.reconcile(text), scrap_sga.verify(text),
                          scrap_sga._run_and_report(text, text, bigint)
      TO scrap_sga_operator;
