-- scrap_sga 0.3.0 -> 0.4.0 (ALTER EXTENSION scrap_sga UPDATE). See UPDATING.md.
-- Tables that hold data are altered in place, never recreated: mirror tables (not members of the
-- extension), cursors, the run log, the audit log and the retry queue keep every row. New
-- columns are appended, as in a fresh 0.4.0 install, so that both have the same catalog
-- (tests/upgrade_test.sh compares them).
\echo Use "ALTER EXTENSION scrap_sga UPDATE TO '0.4.0'" to load this file. \quit

-- The run log's counters are bigint, as the engine counts them (integer before 0.4.0: a
-- count past 2^31 would have been cut).
ALTER TABLE scrap_sga.sync_run
    ALTER COLUMN pages TYPE bigint,
    ALTER COLUMN requests TYPE bigint,
    ALTER COLUMN splits TYPE bigint,
    ALTER COLUMN waits TYPE bigint;

-- Display names that follow the records they name: how often they are checked, and where each
-- many2one's check is.
ALTER TABLE scrap_sga.model
    ADD COLUMN display_refresh interval NOT NULL DEFAULT '5 minutes' CHECK (display_refresh >= '0');
ALTER TABLE scrap_sga.model_field
    ADD COLUMN display_checked_at timestamptz,
    ADD COLUMN display_since timestamptz,
    ADD COLUMN display_error text;

-- How far a run under way is (scrap_sga.progress), and the runs under way from an index.
ALTER TABLE scrap_sga.sync_run
    ADD COLUMN phase text,
    ADD COLUMN done bigint,
    ADD COLUMN expected bigint,
    ADD COLUMN rate real,
    ADD COLUMN progress_at timestamptz,
    ADD COLUMN resumed_from integer,
    ADD COLUMN renamed bigint NOT NULL DEFAULT 0;
CREATE INDEX sync_run_running_idx ON scrap_sga.sync_run (run_id) WHERE status = 'running';

-- Resumable full passes.
CREATE TABLE scrap_sga.full_pass (
    model          text PRIMARY KEY REFERENCES scrap_sga.model ON UPDATE CASCADE ON DELETE CASCADE,
    started_at     timestamptz NOT NULL DEFAULT now(),
    read_at        timestamptz,
    max_write_date timestamptz,
    plan           text[] NOT NULL,
    expected       bigint,
    done           bigint NOT NULL DEFAULT 0,
    resumes        integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE scrap_sga.full_pass IS 'A full pass under way, resumable: its plan, Odoo''s count when it began, what it copied so far.';
CREATE TABLE scrap_sga.full_pass_range (
    model        text NOT NULL REFERENCES scrap_sga.full_pass ON UPDATE CASCADE ON DELETE CASCADE,
    lo           integer NOT NULL,
    hi           integer,
    done_through integer NOT NULL,
    PRIMARY KEY (model, lo)
);
COMMENT ON TABLE scrap_sga.full_pass_range IS 'Where each id range of a full pass under way got to.';
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.full_pass', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.full_pass_range', '');

-- full_resync() resumes a pass left unfinished, or starts anew when told: a new signature.
DROP FUNCTION scrap_sga.full_resync(text);
CREATE FUNCTION scrap_sga.full_resync(only_model text DEFAULT NULL, restart boolean DEFAULT false)
RETURNS SETOF scrap_sga.run_result
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM scrap_sga._run_and_report(CASE WHEN restart THEN 'full_resync_anew' ELSE 'full_resync' END, only_model) $$;
COMMENT ON FUNCTION scrap_sga.full_resync(text, boolean) IS
'Read every record of every enabled model (or of the one named) again, whatever the cursor says, and reconcile deletions. Unchanged rows are still not rewritten. A full pass left unfinished (cut by an error, a cancel or a restart) resumes where it stopped, unless restart => true. The run log says which (sync_run.resumed_from).';

-- sync() and friends say whether a full pass began anew or resumed.
CREATE OR REPLACE FUNCTION scrap_sga._run_and_report(job text, only_model text, odoo_id bigint DEFAULT NULL)
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

-- The row audit logs a binary (bytea) as its size and SHA-256 digest, {"bytes": n, "sha256":
-- "<hex>"}, not as its content: the library computes the audit, so the mirror tables' triggers,
-- whose declaration is the same, log so from the new library on. Rows logged before keep the
-- hex they hold. Only the table's comment says it.
COMMENT ON TABLE scrap_sga.audit_log IS
'One row per record inserted, updated, soft-deleted or restored by scrap_sga, with the columns that changed, old and new values as to_jsonb renders them, but a binary (bytea) as its size and SHA-256 digest, {"bytes": n, "sha256": "<hex>"}, never its content. Pruned after scrap_sga.audit_retention.';

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
GRANT SELECT ON scrap_sga.status, scrap_sga.progress, scrap_sga.worker_state, scrap_sga.sync_run, scrap_sga.model, scrap_sga.model_field,
                scrap_sga.audit_log, scrap_sga.failed_record, scrap_sga.full_pass, scrap_sga.full_pass_range TO scrap_sga_reader;
GRANT EXECUTE ON FUNCTION scrap_sga._scheduler_running() TO scrap_sga_reader;

ALTER FUNCTION scrap_sga._run_and_report(text, text, bigint) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SECURITY DEFINER;
ALTER FUNCTION scrap_sga.verify(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION scrap_sga.run_job(text, text, bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION scrap_sga.sync(text), scrap_sga.resync(bigint, text), scrap_sga.resync_failed(text),
                          scrap_sga.full_resync(text, boolean), scrap_sga.reconcile(text), scrap_sga.verify(text),
                          scrap_sga._run_and_report(text, text, bigint)
      TO scrap_sga_operator;
