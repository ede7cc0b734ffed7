-- The SQL interface. The work itself runs in a background worker started by scrap_sga.run_job()
-- (implemented in Rust): a worker can commit page by page and record a failed run even though the
-- caller's statement fails, which a plain function cannot.

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
    -- A full pass says whether it began anew or resumed where an earlier one was cut.
    FOR f IN SELECT r.model, r.resumed_from, r.trigger FROM scrap_sga.sync_run r
             WHERE r.invocation = inv AND r.mode = 'full' ORDER BY r.run_id LOOP
        IF f.resumed_from IS NOT NULL THEN
            RAISE NOTICE 'scrap_sga: the full pass of % resumed where it was cut (after id %)%', f.model, f.resumed_from,
                CASE WHEN f.trigger = 'full_resync' THEN '; full_resync(restart => true) starts one anew' ELSE '' END;
        ELSIF f.trigger = 'full_resync' THEN
            RAISE NOTICE 'scrap_sga: the full pass of % began anew', f.model;
        END IF;
    END LOOP;
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

CREATE FUNCTION scrap_sga.full_resync(only_model text DEFAULT NULL, restart boolean DEFAULT false)
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report(CASE WHEN restart THEN 'full_resync_anew' ELSE 'full_resync' END, only_model) $$;
COMMENT ON FUNCTION scrap_sga.full_resync(text, boolean) IS
'Read every record of every enabled model (or of the one named) again, whatever the cursor says, and reconcile deletions. Unchanged rows are still not rewritten. A full pass left unfinished (cut by an error, a cancel or a restart) resumes where it stopped, unless restart => true. The run log says which (sync_run.resumed_from).';

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

CREATE VIEW scrap_sga.status AS
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
         WHERE f.model = m.model AND f.unreadable_since IS NOT NULL) AS unreadable_fields,
       -- A full pass under way (0.4.0): records copied of those Odoo had when it began, and
       -- how many times it resumed after being cut.
       p.done AS full_pass_done,
       p.expected AS full_pass_expected,
       p.resumes AS full_pass_resumes
FROM scrap_sga.model m
LEFT JOIN scrap_sga.full_pass p ON p.model = m.model
-- A singleton, said so: the planner never analyzes these small tables and would assume hundreds
-- of rows in each, then cost the view high enough to JIT-compile it at every call.
LEFT JOIN LATERAL (SELECT w.pid, w.state, w.next_run_at, w.consecutive_failures FROM scrap_sga.worker_state w LIMIT 1) w ON true
LEFT JOIN LATERAL (SELECT r.run_id, r.status, r.started_at, r.error, r.backend_pid FROM scrap_sga.sync_run r
                   WHERE r.model = m.model ORDER BY r.run_id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (SELECT r.finished_at FROM scrap_sga.sync_run r
                   WHERE r.model = m.model AND r.status = 'succeeded' ORDER BY r.run_id DESC LIMIT 1) ok ON true;
COMMENT ON VIEW scrap_sga.status IS 'Per model: live rows (as kept by the sync), last run and its status, last success, lag since it, records waiting for a retry, the background worker and its next run, fields the sync user may not read, a full pass under way.';

-- One row per run under way, in the spirit of pg_stat_progress_copy: its step, records done and
-- expected in it, the rate over its last pages and the end that rate gives, its requests to
-- Odoo, answers waited for and records set aside, its backend. Current to the run's last page
-- (0.4.0). A run whose process is gone is not under way (the status view calls it failed).
CREATE VIEW scrap_sga.progress AS
SELECT r.run_id, r.model, r.trigger, r.backend_pid AS pid, r.started_at,
       coalesce(r.phase, 'starting') AS phase,
       r.done, r.expected,
       CASE WHEN r.expected > 0 THEN round(100.0 * least(r.done, r.expected) / r.expected, 1) END AS percent,
       r.rate::float8 AS records_per_second,
       CASE WHEN r.rate > 0 AND r.expected > r.done THEN r.progress_at + make_interval(secs => (r.expected - r.done) / r.rate) END AS eta,
       r.requests, r.waits, r.parked, r.resumed_from, r.progress_at AS updated_at
FROM scrap_sga.sync_run r
WHERE r.status = 'running' AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.backend_pid);
COMMENT ON VIEW scrap_sga.progress IS 'Runs under way: step, records done and expected, percent, records per second, estimated end, requests, waits, records set aside, backend pid; current to each run''s last page.';

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
