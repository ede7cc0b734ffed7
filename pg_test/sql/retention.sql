-- What is kept, and for how long: the run log and the audit log are pruned after every sync
-- (scrap_sga.sync_run_retention, scrap_sga.audit_retention, 90 days each); each model's latest
-- run is always kept, so scrap_sga.status still knows how a model last went.
CREATE EXTENSION scrap_sga;
SHOW scrap_sga.sync_run_retention;
SHOW scrap_sga.audit_retention;

-- Three failed syncs (Odoo unreachable): six runs.
SELECT scrap_sga.set_connection('http://127.0.0.1:9', 'db', secret => 'k');
SELECT count(*) FROM scrap_sga.sync();
SELECT count(*) FROM scrap_sga.sync();
SELECT count(*) FROM scrap_sga.sync();
-- As if they had run 100 days ago: all go but each model's latest.
UPDATE scrap_sga.sync_run SET started_at = started_at - interval '100 days';
SELECT scrap_sga.prune_runs() AS pruned;
SELECT model, run_id FROM scrap_sga.sync_run ORDER BY run_id;
-- Even with a retention of a day, each model's latest run stays.
SELECT scrap_sga.prune_runs(interval '1 day', batch => 1) AS pruned;

-- Audit rows older than the retention go, a batch at a time; younger ones stay.
INSERT INTO scrap_sga.audit_log (logged_at, table_name, odoo_id, operation)
SELECT now() - i * interval '1 day', 'scrap_dimagaz_bc', i, 'update' FROM generate_series(1, 120) i;
SELECT scrap_sga.prune_audit(batch => 10) AS pruned;
SELECT scrap_sga.prune_audit() AS pruned;
SELECT min(odoo_id), max(odoo_id), count(*) FROM scrap_sga.audit_log;
SELECT scrap_sga.prune_audit(interval '30 days') AS pruned;
SELECT scrap_sga.prune_audit() AS nothing_left_to_prune;

-- How a retention setting is read (here through a setting of the test's own: the two real ones
-- change only with a reload). Without a unit it would be seconds: refused, so that the prune
-- deletes nothing; a negative one too; an interval, or none (90 days), is taken.
SET test.retention = '90';
SELECT scrap_sga._retention('test.retention', NULL);
SELECT scrap_sga._retention('test.retention', interval '2 days') AS given_older_than_wins;
SET test.retention = '-1 day';
SELECT scrap_sga._retention('test.retention', NULL);
SET test.retention = '30 days';
SELECT scrap_sga._retention('test.retention', NULL);
SELECT scrap_sga._retention('test.unset', NULL);

DROP EXTENSION scrap_sga;
