-- scrap_sga 0.3.0 -> 0.4.0 (ALTER EXTENSION scrap_sga UPDATE). See UPDATING.md.
-- Tables that hold data are altered in place, never recreated: mirror tables (not members of the
-- extension), cursors, the run log, the audit log and the retry queue keep every row. New
-- columns are appended, as in a fresh 0.4.0 install, so that both have the same catalog
-- (tests/upgrade_test.sh compares them).
\echo Use "ALTER EXTENSION scrap_sga UPDATE TO '0.4.0'" to load this file. \quit

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
