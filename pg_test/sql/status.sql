-- scrap_sga.status: one row per model, how fresh its mirror is and how its runs went; cheap to
-- read however long the run log grows.
\getenv sim_url SGA_SIM_URL
CREATE EXTENSION scrap_sga;

-- Before any run (the connection given, which registers the two models): every model, no run
-- yet, and no scheduler in this database (not preloaded).
SELECT scrap_sga.set_connection(:'sim_url', 'dimagaz', 'admin', 'admin');
SELECT model, mirror_table, enabled, rows, last_status, last_success_at, waiting_retry, worker
FROM scrap_sga.status ORDER BY model;

-- After a sync from the simulator (30 orders, 60 lines): the rows kept by the sync, the last run.
SELECT model, status, inserted FROM scrap_sga.sync() ORDER BY model;
SELECT model, rows, last_status, last_error, last_success_at IS NOT NULL AS succeeded_once,
       lag < interval '1 minute' AS fresh, waiting_retry, unreadable_fields
FROM scrap_sga.status ORDER BY model;

-- A failed run shows in last_status and last_error; the last success stays.
SELECT scrap_sga.set_connection('http://127.0.0.1:9', 'dimagaz', 'admin', 'admin', protocol => 'jsonrpc');
SELECT count(*) FROM scrap_sga.sync('dimagaz.bc');
SELECT model, last_status, last_error IS NOT NULL AS has_error, last_success_at IS NOT NULL AS succeeded_once
FROM scrap_sga.status ORDER BY model;

-- With 20,000 runs in the log, the planner still costs the view under jit_above_cost: reading it
-- never pays for JIT compilation.
INSERT INTO scrap_sga.sync_run (invocation, model, trigger, status, started_at, finished_at)
SELECT i, CASE WHEN i % 2 = 0 THEN 'dimagaz.bc' ELSE 'dimagaz.bc.line' END, 'worker', 'succeeded',
       now() - i * interval '1 minute', now() - i * interval '1 minute' + interval '1 second'
FROM generate_series(1000, 21000) i;
ANALYZE scrap_sga.sync_run;
CREATE FUNCTION plan_cost(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Total Cost')::float8;
END $$;
SELECT plan_cost('SELECT * FROM scrap_sga.status') < current_setting('jit_above_cost')::float8 AS under_jit_cost;
SELECT count(*) AS models FROM scrap_sga.status;

DROP FUNCTION plan_cost(text);
DROP EXTENSION scrap_sga CASCADE;
DROP TABLE scrap_dimagaz_bc, scrap_dimagaz_bc_line;
