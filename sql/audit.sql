-- Row audit: every change the extension makes to a mirror table, one row per record changed.
-- Statement-level triggers with transition tables: a page of 2,000 rows writes its audit in one
-- INSERT ... SELECT, not 2,000 trigger calls. Only the columns that changed are kept.
CREATE TABLE scrap_sga.audit_log (
    audit_id    bigserial PRIMARY KEY,
    logged_at   timestamptz NOT NULL DEFAULT now(),
    run_id      bigint,
    table_name  text NOT NULL,
    odoo_id     integer NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('insert', 'update', 'soft_delete', 'restore')),
    -- For an update, soft delete or restore: the changed columns, before and after, as to_jsonb
    -- renders them, but a binary (bytea): its size and SHA-256 digest, {"bytes": 716800,
    -- "sha256": "<64 hex digits>"}, never its content (a NULL stays null). For an insert both are
    -- NULL: the row itself holds the values, and every later change logs the old values of what
    -- it changed, so any past state of a row can be rebuilt backwards from the current one, but
    -- for a binary's content: its digest tells whether a copy at hand is the one logged.
    old_values  jsonb,
    new_values  jsonb,
    -- The table's schema: two models may have tables of the same name in two schemas. NULL in
    -- rows logged before 0.3.0.
    table_schema text
);
CREATE INDEX audit_log_record_idx ON scrap_sga.audit_log (table_name, odoo_id);
CREATE INDEX audit_log_run_idx ON scrap_sga.audit_log (run_id);
-- A btree, not a BRIN: prune_audit() runs after every sync, and a BRIN index returns every block
-- range not summarized yet, the newest part of the log, so that finding nothing to prune read
-- megabytes each time. Rows are appended in logged_at order: the btree only grows at its end.
CREATE INDEX audit_log_logged_at_idx ON scrap_sga.audit_log (logged_at);
COMMENT ON TABLE scrap_sga.audit_log IS
'One row per record inserted, updated, soft-deleted or restored by scrap_sga, with the columns that changed, old and new values as to_jsonb renders them, but a binary (bytea) as its size and SHA-256 digest, {"bytes": n, "sha256": "<hex>"}, never its content. Pruned after scrap_sga.audit_retention.';
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.audit_log_audit_id_seq', '');

CREATE FUNCTION scrap_sga.audit_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO scrap_sga.audit_log (run_id, table_schema, table_name, odoo_id, operation)
    SELECT n.sga_run_id, TG_TABLE_SCHEMA, TG_TABLE_NAME, n.id, 'insert' FROM new_rows n;
    RETURN NULL;
END
$$;

-- The columns that changed, old and new values as to_jsonb renders them but a binary as its
-- size and digest (src/audit/, which also checks how it is fired). The library holds the whole
-- of it: a new library changes what the triggers of existing tables log. Written in Rust: the same trigger in PL/pgSQL, joining old_rows
-- and new_rows by id and calling the diff on each pair as composite values, cost twice the diff.
CREATE FUNCTION scrap_sga.audit_update() RETURNS trigger
LANGUAGE c SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_update_wrapper';

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

-- Deletes audit rows older than scrap_sga.audit_retention, a batch at a time; returns how many.
CREATE FUNCTION scrap_sga.prune_audit(older_than interval DEFAULT NULL, batch integer DEFAULT 50000)
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
COMMENT ON FUNCTION scrap_sga.prune_audit(interval, integer) IS
'Delete audit rows older than the retention (default: the scrap_sga.audit_retention setting), at most batch rows per call.';

-- Deletes runs older than scrap_sga.sync_run_retention, a batch at a time; returns how many. A
-- model's latest run is kept whatever its age (the status view reads it), and so is any run
-- still marked running.
CREATE FUNCTION scrap_sga.prune_runs(older_than interval DEFAULT NULL, batch integer DEFAULT 50000)
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
COMMENT ON FUNCTION scrap_sga.prune_runs(interval, integer) IS
'Delete runs older than the retention (default: the scrap_sga.sync_run_retention setting) from scrap_sga.sync_run, at most batch rows per call; each model''s latest run is kept.';
