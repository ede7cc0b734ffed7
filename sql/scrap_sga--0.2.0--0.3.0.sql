-- scrap_sga 0.2.0 -> 0.3.0 (ALTER EXTENSION scrap_sga UPDATE). See UPDATING.md.
-- Tables that hold data are altered in place, never recreated: mirror tables (not members of the
-- extension), cursors, the run log, the audit log and the retry queue keep every row. New
-- columns are appended, as in a fresh 0.3.0 install, so that both have the same catalog
-- (tests/upgrade_test.sh compares them).
\echo Use "ALTER EXTENSION scrap_sga UPDATE TO '0.3.0'" to load this file. \quit

-- What fields_get says besides types: digits (amounts become numeric), selection choices, a
-- one2many's inverse. Every model asks fields_get again at its next run to fill them in; an
-- amount column that was double precision is then converted to numeric in place. Fields can be
-- left out by the DBA (exclude_field), or because the sync user may not read them.
ALTER TABLE scrap_sga.model_field
    ADD COLUMN digits integer[],
    ADD COLUMN selection jsonb,
    ADD COLUMN relation_field text,
    ADD COLUMN excluded boolean NOT NULL DEFAULT false,
    ADD COLUMN unreadable_since timestamptz;
UPDATE scrap_sga.model SET schema_checked_at = NULL;

-- Adaptive batches (the size that worked, a record's weight), and the id a job worker is told.
ALTER TABLE scrap_sga.model
    ADD COLUMN batch_size integer CHECK (batch_size > 0),
    ADD COLUMN bytes_per_record integer CHECK (bytes_per_record >= 0),
    ADD COLUMN model_id integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    ADD COLUMN live_id_sum bigint,
    ADD COLUMN window_since timestamptz,
    ADD COLUMN window_count bigint,
    ADD COLUMN window_id_sum bigint,
    ADD COLUMN window_newest timestamptz,
    ADD COLUMN recheck_margin interval;
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.model_model_id_seq', '');

-- The request budget, and what the last run found out about the server.
ALTER TABLE scrap_sga.connection
    ADD COLUMN max_requests_per_second real CHECK (max_requests_per_second > 0),
    ADD COLUMN detected_protocol text CHECK (detected_protocol IN ('json2', 'jsonrpc')),
    ADD COLUMN detected_version text,
    ADD COLUMN detected_uid integer,
    ADD COLUMN detected_at timestamptz,
    ADD COLUMN detected_fingerprint text CHECK (detected_fingerprint IN ('formatted_read_group', 'read_group', 'none'));

-- What a run set aside, split and waited for. A constant default adds a column without
-- rewriting the (possibly large) run log.
ALTER TABLE scrap_sga.sync_run
    ADD COLUMN parked bigint NOT NULL DEFAULT 0,
    ADD COLUMN splits integer NOT NULL DEFAULT 0,
    ADD COLUMN waits integer NOT NULL DEFAULT 0;
ALTER TABLE scrap_sga.failed_record ADD COLUMN write_date timestamptz;
COMMENT ON TABLE scrap_sga.failed_record IS
'Records that could not be stored or fetched, waiting for a retry (next_attempt_at, doubling up to a day). scrap_sga.resync_failed() retries them all now.';

-- The status view's last run and last success of each model, read from an index.
CREATE INDEX sync_run_model_run_id_idx ON scrap_sga.sync_run (model, run_id DESC);
CREATE INDEX sync_run_model_succeeded_idx ON scrap_sga.sync_run (model, run_id DESC) WHERE status = 'succeeded';

-- set_connection() gains max_requests_per_second: a new signature.
DROP FUNCTION scrap_sga.set_connection(text, text, text, text, text, text);
CREATE FUNCTION scrap_sga.set_connection(url text, database text, login text DEFAULT NULL, secret text DEFAULT NULL,
                                         secret_file text DEFAULT NULL, protocol text DEFAULT 'auto',
                                         max_requests_per_second real DEFAULT NULL)
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
        -- Shown without what may be a user:password@ (a mistyped scheme is still a URL).
        RAISE EXCEPTION 'scrap_sga.set_connection: url must start with http:// or https:// (got %)',
            coalesce(regexp_replace(url, '^([^/@]*//)?.*@', '\1***@'), 'NULL')
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
    -- NaN passes a comparison with 0 (it sorts above every number) and would mean no limit.
    IF max_requests_per_second <= 0 OR max_requests_per_second = 'NaN' THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: max_requests_per_second must be more than 0, or NULL for no limit (got %)', max_requests_per_second
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
    -- The first connection of a catalog that never synced brings the two models this extension
    -- is for. Not CREATE EXTENSION: the catalog's rows are in pg_dump, and a restore, which runs
    -- CREATE EXTENSION before loading them, failed on rows it had just made and lost every model
    -- and setting. (The connection is left out of pg_dump: a restored catalog is given it again,
    -- and has its successful runs, so the models the DBA kept or removed stay so.)
    IF NOT EXISTS (SELECT FROM scrap_sga.connection) AND NOT EXISTS (SELECT FROM scrap_sga.sync_run r WHERE r.status = 'succeeded') THEN
        INSERT INTO scrap_sga.model (model, table_name, sync_order) VALUES
            ('dimagaz.bc', 'scrap_dimagaz_bc', 10),
            ('dimagaz.bc.line', 'scrap_dimagaz_bc_line', 20)
        ON CONFLICT DO NOTHING;
    END IF;
    -- What was found out about the server before is forgotten: the next run asks again.
    INSERT INTO scrap_sga.connection (url, database, login, secret, secret_file, protocol, max_requests_per_second)
    VALUES (rtrim(url, '/'), database, nullif(login, ''), nullif(secret, ''), nullif(secret_file, ''), protocol, max_requests_per_second)
    ON CONFLICT (singleton) DO UPDATE
       SET url = EXCLUDED.url, database = EXCLUDED.database, login = EXCLUDED.login, secret = EXCLUDED.secret,
           secret_file = EXCLUDED.secret_file, protocol = EXCLUDED.protocol, updated_at = now(),
           max_requests_per_second = EXCLUDED.max_requests_per_second,
           detected_protocol = NULL, detected_version = NULL, detected_uid = NULL, detected_at = NULL, detected_fingerprint = NULL;
END
$$;
COMMENT ON FUNCTION scrap_sga.set_connection(text, text, text, text, text, text, real) IS
'Set the Odoo server to read from: base URL (https://erp.example.com), database, login (JSON-RPC only), and the password or API key, either as secret or as secret_file, an absolute path on this server to a file only its owner can read, read at every run. protocol: auto (default), json2 or jsonrpc. max_requests_per_second: a budget every process syncing this database shares (1 for Odoo Online); NULL for none.';

CREATE FUNCTION scrap_sga.exclude_field(model text, field text, exclude boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF field = 'id' THEN
        RAISE EXCEPTION 'scrap_sga.exclude_field: id is how records are told apart: it cannot be left out' USING ERRCODE = '22023';
    END IF;
    -- Without write_date every run would copy the whole model, and verify() would compare a
    -- column no longer kept up to date.
    IF field = 'write_date' AND exclude THEN
        RAISE EXCEPTION 'scrap_sga.exclude_field: write_date is how changes are found: it cannot be left out' USING ERRCODE = '22023';
    END IF;
    UPDATE scrap_sga.model_field mf SET excluded = exclude, changed_at = now()
     WHERE mf.model = exclude_field.model AND mf.field = exclude_field.field;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'scrap_sga.exclude_field: Odoo reported no field % on model % (see scrap_sga.model_field)', field, model
            USING ERRCODE = '42703';
    END IF;
    -- The next run plans the model again: the field is no longer read (or is read again, its
    -- column filled by a full pass when it is new).
    UPDATE scrap_sga.model m SET schema_checked_at = NULL WHERE m.model = exclude_field.model;
END
$$;
COMMENT ON FUNCTION scrap_sga.exclude_field(text, text, boolean) IS
'Leave a field in Odoo (a scanned PDF, say): it is no longer read; its column and data stay. exclude => false reads it again.';

-- The status view reads the kept count of live rows instead of counting the table at each call
-- (its columns stay, one is added at the end: views of the DBA's own built on it stay valid).
-- One row per model: how fresh the mirror is and how its runs went. Its subqueries name their
-- columns: a view keeps the columns `*` meant when it was created, whatever is added later.
-- Cheap whatever the size of the mirror and of the run log (0.3.0): the live rows are the count
-- every write keeps in scrap_sga.model.live_rows (counting a large table on every call took
-- long enough to make the planner JIT-compile the view), and the last runs come from indexes.
-- Whether the scheduler runs for this database, asked as the extension's owner: to any other
-- role pg_stat_activity hides the backend type of another user's process, and the status view
-- said "not running" to Django (scrap_sga_reader) while it ran.
CREATE FUNCTION scrap_sga._scheduler_running() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.backend_type = 'scrap_sga scheduler' AND a.datname = current_database())
$$;

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
            WHEN NOT scrap_sga._scheduler_running()
                THEN 'not running (is scrap_sga in shared_preload_libraries, and scrap_sga.database this database?)'
            WHEN w.pid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.pid)
                THEN 'starting (it looks for the extension every 10 s)'
            ELSE w.state END AS worker,
       CASE WHEN w.state IN ('idle', 'backing off') AND NOT pg_is_in_recovery() THEN w.next_run_at END AS next_run_at,
       w.consecutive_failures AS worker_failures,
       m.cursor,
       m.reconciled_at,
       (SELECT array_agg(f.field ORDER BY f.field) FROM scrap_sga.model_field f
         WHERE f.model = m.model AND f.unreadable_since IS NOT NULL) AS unreadable_fields
FROM scrap_sga.model m
-- A singleton, said so: the planner never analyzes these small tables and would assume hundreds
-- of rows in each, then cost the view high enough to JIT-compile it at every call.
LEFT JOIN LATERAL (SELECT w.pid, w.state, w.next_run_at, w.consecutive_failures FROM scrap_sga.worker_state w LIMIT 1) w ON true
LEFT JOIN LATERAL (SELECT r.run_id, r.status, r.started_at, r.error, r.backend_pid FROM scrap_sga.sync_run r
                   WHERE r.model = m.model ORDER BY r.run_id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (SELECT r.finished_at FROM scrap_sga.sync_run r
                   WHERE r.model = m.model AND r.status = 'succeeded' ORDER BY r.run_id DESC LIMIT 1) ok ON true;
DROP FUNCTION scrap_sga._live_rows(regclass);
COMMENT ON VIEW scrap_sga.status IS 'Per model: live rows (as kept by the sync), last run and its status, last success, lag since it, records waiting for a retry, the background worker and its next run, fields the sync user may not read.';

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

-- The row audit's diff, in the library: a full-table update cost four times the first copy,
-- three quarters of it in the diff written in SQL. The audit rows keep the same content.
CREATE FUNCTION scrap_sga."_audit_diff"(
	"old" anyelement, /* AnyElement */
	"new" anyelement /* AnyElement */
) RETURNS jsonb /* Option < Jsonb > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_diff_wrapper';
-- The update trigger too: joining the transition tables and making each row a composite value
-- for the diff cost as much as the diff. Its triggers keep calling it by the same name.
CREATE OR REPLACE FUNCTION scrap_sga.audit_update() RETURNS trigger
LANGUAGE c SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_update_wrapper';

-- The audited table's schema: two models may have tables of the same name in two schemas, and
-- their audit rows could not be told apart. Rows logged before stay NULL.
ALTER TABLE scrap_sga.audit_log ADD COLUMN table_schema text;
CREATE OR REPLACE FUNCTION scrap_sga.audit_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO scrap_sga.audit_log (run_id, table_schema, table_name, odoo_id, operation)
    SELECT n.sga_run_id, TG_TABLE_SCHEMA, TG_TABLE_NAME, n.id, 'insert' FROM new_rows n;
    RETURN NULL;
END
$$;

-- Pruning after every sync must cost nothing when nothing is old: a btree on logged_at in place
-- of the BRIN index, which read every block range not yet summarized (the newest part of the
-- log) at every sync. Rebuilding it reads the audit log once, during this update.
DROP INDEX scrap_sga.audit_log_logged_at_idx;
CREATE INDEX audit_log_logged_at_idx ON scrap_sga.audit_log (logged_at);
-- The retention a prune keeps: older_than if given, else the setting (90 days by default). A
-- bare number is refused, not read as seconds ('90'::interval is 90 s: after each sync the whole
-- log but its last minute and a half went), and so is a negative one: the prune then deletes
-- nothing, and the sync's warning says why.
CREATE FUNCTION scrap_sga._retention(setting text, older_than interval) RETURNS interval
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    given text := coalesce(nullif(btrim(current_setting(setting, true)), ''), '90 days');
    kept interval;
BEGIN
    IF older_than IS NULL AND given ~ '^[-+]?[0-9.]+$' THEN
        RAISE EXCEPTION '% = ''%'' has no unit (it would be read as % seconds): write ''% days'', say; nothing is pruned until then',
            setting, given, given, given USING ERRCODE = '22023';
    END IF;
    kept := coalesce(older_than, given::interval);
    IF kept < interval '0' THEN
        RAISE EXCEPTION 'a retention cannot be negative (got %); nothing is pruned', kept USING ERRCODE = '22023';
    END IF;
    RETURN kept;
END
$$;

CREATE OR REPLACE FUNCTION scrap_sga.prune_audit(older_than interval DEFAULT NULL, batch integer DEFAULT 50000)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cutoff timestamptz := now() - scrap_sga._retention('scrap_sga.audit_retention', older_than);
    n bigint;
BEGIN
    DELETE FROM scrap_sga.audit_log WHERE audit_id IN (
        SELECT a.audit_id FROM scrap_sga.audit_log a WHERE a.logged_at < cutoff ORDER BY a.logged_at LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION scrap_sga.prune_runs(older_than interval DEFAULT NULL, batch integer DEFAULT 50000)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cutoff timestamptz := now() - scrap_sga._retention('scrap_sga.sync_run_retention', older_than);
    first_kept bigint;
    n bigint;
BEGIN
    -- As prune_audit: the old runs are the first ones in run_id order. Walking from the first
    -- to the first recent one passes only the runs kept (each model's latest) once caught up.
    SELECT r.run_id INTO first_kept FROM scrap_sga.sync_run r WHERE r.started_at >= cutoff ORDER BY r.run_id LIMIT 1;
    DELETE FROM scrap_sga.sync_run WHERE run_id IN (
        SELECT r.run_id FROM scrap_sga.sync_run r
        WHERE r.run_id < coalesce(first_kept, 9223372036854775807) AND r.started_at < cutoff AND r.status <> 'running'
          AND r.run_id <> (SELECT max(l.run_id) FROM scrap_sga.sync_run l WHERE l.model = r.model)
        ORDER BY r.run_id LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

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
GRANT EXECUTE ON FUNCTION scrap_sga._scheduler_running() TO scrap_sga_reader;

ALTER FUNCTION scrap_sga._run_and_report(text, text, bigint) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION scrap_sga.run_job(text, text, bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION scrap_sga.sync(text), scrap_sga.resync(bigint, text), scrap_sga.resync_failed(text),
                          scrap_sga.full_resync(text), scrap_sga.reconcile(text), scrap_sga.verify(text),
                          scrap_sga._run_and_report(text, text, bigint)
      TO scrap_sga_operator;
