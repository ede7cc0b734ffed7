-- The row audit logs a binary (bytea) as its size and SHA-256 digest, never its content: a
-- changed binary is {"bytes": n, "sha256": "<64 hex digits>"} in old_values and new_values, NULL
-- stays null; an unchanged one, however large, is not logged at all.
CREATE EXTENSION scrap_sga;
CREATE TABLE doc (id integer PRIMARY KEY, name text, scan bytea,
    sga_synced_at timestamptz NOT NULL DEFAULT now(), sga_run_id bigint, sga_deleted_at timestamptz);
CREATE TRIGGER scrap_sga_audit_insert AFTER INSERT ON doc REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_insert();
CREATE TRIGGER scrap_sga_audit_update AFTER UPDATE ON doc REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_update();
-- 700 kB that do not compress (stored out of line), n the seed.
CREATE FUNCTION scan(n integer) RETURNS bytea LANGUAGE sql AS $$
    SELECT string_agg(sha256(int4send(n * 100000 + g)), ''::bytea ORDER BY g) FROM generate_series(1, 22400) g
$$;
-- What the audit must say of a binary.
CREATE FUNCTION digest(b bytea) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN b IS NOT NULL THEN jsonb_build_object('bytes', octet_length(b), 'sha256', encode(sha256(b), 'hex')) END
$$;
INSERT INTO doc (id, name, scan) VALUES (1, 'one', scan(1)), (2, 'two', '\x0102'), (3, 'three', NULL);

-- Record 1's scan changes twice: each row logs the sizes and digests of the scan before and
-- after, the last one that of the scan the table holds.
CREATE TABLE before AS SELECT scan FROM doc WHERE id = 1;
UPDATE doc SET scan = scan(2), sga_run_id = 1 WHERE id = 1;
UPDATE doc SET scan = scan(3), sga_run_id = 2 WHERE id = 1;
SELECT run_id, old_values, new_values FROM scrap_sga.audit_log WHERE run_id IN (1, 2) ORDER BY audit_id;
SELECT (SELECT old_values -> 'scan' FROM scrap_sga.audit_log WHERE run_id = 1) = digest((SELECT scan FROM before)) AS first_old,
       (SELECT new_values -> 'scan' FROM scrap_sga.audit_log WHERE run_id = 1) = digest(scan(2)) AS first_new,
       (SELECT old_values -> 'scan' FROM scrap_sga.audit_log WHERE run_id = 2) = digest(scan(2)) AS second_old,
       (SELECT new_values -> 'scan' FROM scrap_sga.audit_log WHERE run_id = 2) = digest((SELECT scan FROM doc WHERE id = 1)) AS second_new;

-- Another column changes, the binaries do not: they are not in the audit rows.
UPDATE doc SET name = name || ' renamed', sga_run_id = 3;
SELECT odoo_id, old_values, new_values FROM scrap_sga.audit_log WHERE run_id = 3 ORDER BY odoo_id;

-- NULL to a value, a value to NULL: null on its side.
UPDATE doc SET scan = '\xdeadbeef', sga_run_id = 4 WHERE id = 3;
UPDATE doc SET scan = NULL, sga_run_id = 5 WHERE id = 2;
SELECT run_id, odoo_id, old_values, new_values FROM scrap_sga.audit_log WHERE run_id IN (4, 5) ORDER BY run_id;

-- A soft delete logs the binary it did not change no more than an update does, and the whole
-- log holds no binary's content: its largest row is a few hundred bytes.
UPDATE doc SET sga_deleted_at = '2026-11-29 06:00:00+00', sga_run_id = 6 WHERE id = 1;
SELECT operation, jsonb_object_keys(new_values) FROM scrap_sga.audit_log WHERE run_id = 6;
SELECT max(octet_length(coalesce(old_values::text, '') || coalesce(new_values::text, ''))) < 300 AS small FROM scrap_sga.audit_log;

-- _audit_diff, which the trigger's rows are checked against (audit.sql), says the same.
SELECT scrap_sga._audit_diff(o, n) FROM (SELECT 1 AS id, '\x01'::bytea AS b) o, (SELECT 1 AS id, '\x0102'::bytea AS b) n;
DROP TABLE doc, before;
DROP FUNCTION scan(integer), digest(bytea);
DROP EXTENSION scrap_sga;
