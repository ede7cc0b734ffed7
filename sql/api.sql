-- The SQL interface. The work itself runs in a background worker started by scrap_sga.run_job()
-- (implemented in Rust): a worker can commit page by page and record a failed run even though the
-- caller's statement fails, which a plain function cannot.

CREATE FUNCTION scrap_sga.sync(only_model text DEFAULT NULL)
RETURNS TABLE (model text, status text, fetched bigint, inserted bigint, updated bigint,
               unchanged bigint, deleted bigint, failed bigint, duration interval, run_id bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    inv bigint;
    f record;
BEGIN
    inv := scrap_sga.run_job('sync', only_model, NULL);
    SELECT r.* INTO f FROM scrap_sga.sync_run r WHERE r.invocation = inv AND r.status = 'failed' ORDER BY r.run_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'scrap_sga: sync of % failed: %', f.model, f.error
            USING ERRCODE = coalesce(f.sqlstate, 'XX000'),
                  HINT = format('The run log has the details: SELECT * FROM scrap_sga.sync_run WHERE invocation = %s;', inv);
    END IF;
    RETURN QUERY
        SELECT r.model, r.status, r.fetched, r.inserted, r.updated, r.unchanged, r.deleted, r.failed,
               r.finished_at - r.started_at, r.run_id
        FROM scrap_sga.sync_run r WHERE r.invocation = inv ORDER BY r.run_id;
END
$$;
COMMENT ON FUNCTION scrap_sga.sync(text) IS
'Copy what changed in Odoo since the last run, for every enabled model or for the one named. Waits for a run of the same model already under way. One row per model; raises the first failure.';

CREATE FUNCTION scrap_sga.set_connection(url text, database text, login text, secret text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Checked here rather than left to the table's constraints: a constraint violation would
    -- print the whole row, secret included, in its DETAIL.
    IF url IS NULL OR url !~ '^https?://[^/]+' THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: url must start with http:// or https:// (got %)', coalesce(url, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF coalesce(database, '') = '' OR coalesce(login, '') = '' OR coalesce(secret, '') = '' THEN
        RAISE EXCEPTION 'scrap_sga.set_connection: database, login and secret must not be empty'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO scrap_sga.connection (url, database, login, secret)
    VALUES (rtrim(url, '/'), database, login, secret)
    ON CONFLICT (singleton) DO UPDATE
       SET url = EXCLUDED.url, database = EXCLUDED.database, login = EXCLUDED.login,
           secret = EXCLUDED.secret, updated_at = now();
END
$$;
COMMENT ON FUNCTION scrap_sga.set_connection(text, text, text, text) IS
'Set the Odoo server to read from: base URL (https://erp.example.com), database, login, and password or API key.';

REVOKE ALL ON ALL TABLES IN SCHEMA scrap_sga FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA scrap_sga FROM PUBLIC;
