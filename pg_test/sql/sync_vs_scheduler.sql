-- A sync() racing the scheduler. Whoever syncs a model holds its lock for the whole run (a
-- session-level advisory lock on (hashtext('scrap_sga'), hashtext(model)), src/engine/mod.rs):
-- this session holds it as the scheduler's job worker does while it syncs dimagaz.bc, and a
-- second session (dblink) is the operator. The operator's sync() of that model waits for the
-- run to end, then runs; a sync() of another model does not wait. (The scheduler only tries the
-- lock: it skips a model a manual sync() holds, and takes it at its next cycle.)
\getenv sim_url SGA_SIM_URL
CREATE EXTENSION scrap_sga;
CREATE EXTENSION dblink;
SELECT scrap_sga.set_connection(:'sim_url', 'dimagaz', 'admin', 'admin');
SELECT dblink_connect('operator', format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                         current_setting('port'), current_database())) AS operator;
-- Waits until the condition holds (at most 30 s); says whether it did.
CREATE FUNCTION wait_until(condition text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
    FOR i IN 1..300 LOOP
        -- pg_stat_activity is read once per transaction unless told to read again.
        PERFORM pg_stat_clear_snapshot();
        EXECUTE 'SELECT ' || condition INTO ok;
        IF ok THEN RETURN true; END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END $$;

-- The scheduler's run of dimagaz.bc is in progress.
SELECT pg_advisory_lock(hashtext('scrap_sga'), hashtext('dimagaz.bc'));
-- The operator syncs the same model: its worker waits for the lock (trying it every 100 ms, so
-- that a cancel reaches it), and nothing is written.
SELECT dblink_send_query('operator', 'SELECT model, status, inserted FROM scrap_sga.sync(''dimagaz.bc'')');
SELECT wait_until($$EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'scrap_sga sync')$$) AND (SELECT true FROM pg_sleep(1)) AS sync_waits_for_the_lock;
SELECT dblink_is_busy('operator') AS still_running, (SELECT count(*) FROM scrap_sga.sync_run) AS runs_started;
-- The scheduler's run ends: the operator's sync runs.
SELECT pg_advisory_unlock(hashtext('scrap_sga'), hashtext('dimagaz.bc'));
SELECT * FROM dblink_get_result('operator') AS t(model text, status text, inserted bigint);
SELECT * FROM dblink_get_result('operator') AS t(model text, status text, inserted bigint);

-- Another model is not held up by dimagaz.bc's run.
SELECT pg_advisory_lock(hashtext('scrap_sga'), hashtext('dimagaz.bc'));
SELECT model, status, inserted FROM scrap_sga.sync('dimagaz.bc.line');
SELECT pg_advisory_unlock(hashtext('scrap_sga'), hashtext('dimagaz.bc'));

SELECT dblink_disconnect('operator');
DROP FUNCTION wait_until(text);
DROP EXTENSION dblink;
DROP EXTENSION scrap_sga CASCADE;
DROP TABLE scrap_dimagaz_bc, scrap_dimagaz_bc_line;
