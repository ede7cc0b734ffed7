-- The row audit: what a change to a mirror row logs. The columns that changed, old and new
-- values rendered exactly as to_jsonb renders them, whatever their types, but a binary (bytea):
-- its size and digest (audit_binary.sql); the two columns the extension stamps on every write
-- are not changes.
CREATE EXTENSION scrap_sga;
SET TimeZone = 'UTC';

CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE TABLE mirror (
    id integer PRIMARY KEY, flag boolean, qty double precision, amount numeric, big bigint, small smallint,
    r real, name text, day date, at timestamptz, naive timestamp, tags integer[], grid text[], props jsonb,
    raw json, data bytea, m mood, p positive, pr pair, code varchar(8), padded char(4),
    sga_synced_at timestamptz NOT NULL DEFAULT now(), sga_run_id bigint, sga_deleted_at timestamptz);
CREATE TRIGGER scrap_sga_audit_insert AFTER INSERT ON mirror REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_insert();
CREATE TRIGGER scrap_sga_audit_update AFTER UPDATE ON mirror REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_update();

-- Values at the edges of every type's rendering: NULLs, NaN and infinities (strings in JSON),
-- numbers written differently but equal, text that needs escaping, empty and two-dimensional
-- arrays, jsonb scalars and nested documents, json with duplicate keys, enums, domains, rows,
-- varchar and blank-padded char, a text long enough to be stored compressed.
CREATE TABLE sample (LIKE mirror INCLUDING DEFAULTS);
INSERT INTO sample (id, flag, qty, amount, big, small, r, name, day, at, naive, tags, grid, props, raw, data, m, p, pr, code, padded) VALUES
 (1, true, 1.5, 1.0, 9007199254740993, 7, 0.1, 'plain', '2026-01-15', '2026-11-29 05:25:34+00', '2026-11-29 05:25:34', '{1,2,3}', '{{a,b},{c,d}}', '{"a": 1, "b": [true, null]}', '{"k": 1, "k": 2}', '\x00ff', 'calm', 1, ROW(1, 'x'), 'ab', 'x'),
 (2, false, 'NaN', 1.00, -1, -7, 'Infinity', E'quote " backslash \\ tab \t newline \n é €', 'infinity', '-infinity', 'infinity', '{}', '{}', '"just a string"', '[1, "two", null]', '\x', 'busy', 2, ROW(NULL, NULL), E'é"\\', 'yy'),
 (3, NULL, '-0', 'NaN', 0, 0, '-Infinity', '', '-infinity', 'infinity', '-infinity', '{NULL,4}', '{{NULL,"x y"}}', '42', '  {"spaced" :  true }  ', '\xdeadbeef', NULL, NULL, NULL, '', NULL),
 (4, true, 0, 'Infinity', 1, 1, 3.25, 'Détendeur 1,3 kg/h', '2000-02-29', '1999-12-31 23:59:59.999999+00', '1999-12-31 23:59:59.999999', '{5}', '{"a\"b"}', 'null', 'null', NULL, 'calm', 3, ROW(2, 'y'), 'ab', 'x   '),
 (5, false, 1e300, 123456789012345678901234567890.123456789, NULL, NULL, NULL, repeat('long text ', 1000), NULL, NULL, NULL, NULL, NULL, '{"z": {"y": {"x": [[], {}]}}}', '"s"', '\x0102', 'busy', 4, ROW(2, 'y'), NULL, 'wxyz'),
 (6, NULL, 1.5, -0.000001, 2, 2, 0.1, 'plain', '2026-01-15', '2026-11-29 05:25:34+00', '2026-11-29 05:25:34', '{1,2,3}', '{{a,b},{c,d}}', '{"b": [true, null], "a": 1}', '{"k": 2}', '\x00ff', 'calm', 1, ROW(1, 'x'), 'ab', 'x');
UPDATE sample SET sga_run_id = id, sga_synced_at = timestamptz '2026-11-29 00:00:00+00' + id * interval '1 minute';

-- The diff of every pair of samples, against the same diff computed with to_jsonb and jsonb_each
-- (the audit of 0.2.0, the binary as its size and digest since 0.4.0): identical, including NULL
-- when nothing differs (a row with itself). Rows 1 and 6 differ in a few columns only: the key
-- order of props and json's duplicate keys do not count.
CREATE FUNCTION logged(r sample) RETURNS jsonb LANGUAGE sql AS $$
    SELECT to_jsonb(r) || jsonb_build_object('data', CASE WHEN r.data IS NOT NULL
        THEN jsonb_build_object('bytes', octet_length(r.data), 'sha256', encode(sha256(r.data), 'hex')) END)
$$;
CREATE FUNCTION diff_by_to_jsonb(o sample, n sample) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN count(*) > 0 THEN jsonb_build_array(jsonb_object_agg(ov.key, ov.value), jsonb_object_agg(ov.key, nv.value)) END
    FROM jsonb_each(logged(o)) ov JOIN jsonb_each(logged(n)) nv ON nv.key = ov.key
    WHERE ov.value IS DISTINCT FROM nv.value AND ov.key NOT IN ('sga_synced_at', 'sga_run_id')
$$;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE scrap_sga._audit_diff(o, n) IS NOT DISTINCT FROM diff_by_to_jsonb(o, n)) AS identical,
       -- as text too: jsonb's = takes 1.0 and 1.00 for equal, its text does not
       count(*) FILTER (WHERE scrap_sga._audit_diff(o, n)::text IS NOT DISTINCT FROM diff_by_to_jsonb(o, n)::text) AS same_text,
       count(*) FILTER (WHERE scrap_sga._audit_diff(o, n) IS NULL) AS unchanged
FROM sample o CROSS JOIN sample n;
SELECT jsonb_pretty(scrap_sga._audit_diff(o, n)) FROM sample o, sample n WHERE o.id = 1 AND n.id = 2;
SELECT scrap_sga._audit_diff(o, n) FROM sample o, sample n WHERE o.id = 1 AND n.id = 6;

-- What the triggers log: an insert (no values: the row holds them), an update (what changed),
-- a soft delete and a restore (sga_deleted_at among the changes).
INSERT INTO mirror SELECT * FROM sample WHERE id IN (1, 3);
UPDATE mirror SET qty = 2.5, name = 'renamed', sga_run_id = 7 WHERE id = 1;
UPDATE mirror SET sga_deleted_at = '2026-11-29 06:00:00+00', sga_run_id = 8 WHERE id = 3;
UPDATE mirror SET sga_deleted_at = NULL, sga_run_id = 9 WHERE id = 3;
SELECT run_id, table_schema, table_name, odoo_id, operation, old_values, new_values FROM scrap_sga.audit_log ORDER BY audit_id;

-- A table of the same name in another schema (two models may be mirrored so): its rows say which.
CREATE SCHEMA elsewhere;
CREATE TABLE elsewhere.mirror (LIKE mirror INCLUDING DEFAULTS);
CREATE TRIGGER scrap_sga_audit_insert AFTER INSERT ON elsewhere.mirror REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_insert();
CREATE TRIGGER scrap_sga_audit_update AFTER UPDATE ON elsewhere.mirror REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_update();
INSERT INTO elsewhere.mirror SELECT * FROM sample WHERE id = 1;
UPDATE elsewhere.mirror SET name = 'elsewhere', sga_run_id = 10 WHERE id = 1;
SELECT table_schema, table_name, odoo_id, operation, new_values FROM scrap_sga.audit_log WHERE odoo_id = 1 ORDER BY audit_id;
DROP SCHEMA elsewhere CASCADE;

-- The update trigger logs, for each row, what _audit_diff returns for its old and new versions,
-- byte for byte: one statement updating 12,000 rows (more than one batch of the trigger's), each
-- from one sample to the next, long compressed text included.
INSERT INTO mirror SELECT (jsonb_populate_record(s, jsonb_build_object('id', g))).*
FROM generate_series(101, 12100) g JOIN sample s ON s.id = g % 6 + 1;
UPDATE mirror m SET (flag, qty, amount, big, small, r, name, day, at, naive, tags, grid, props, raw, data, m, p, pr, code, padded, sga_run_id)
    = (s.flag, s.qty, s.amount, s.big, s.small, s.r, s.name, s.day, s.at, s.naive, s.tags, s.grid, s.props, s.raw, s.data, s.m, s.p, s.pr, s.code, s.padded, 11)
FROM sample s WHERE m.id > 100 AND s.id = (m.id + 1) % 6 + 1;
SELECT count(*) AS logged,
       count(*) FILTER (WHERE a.operation = 'update' AND a.old_values::text IS NOT DISTINCT FROM (d -> 0)::text
                          AND a.new_values::text IS NOT DISTINCT FROM (d -> 1)::text) AS as_diffed,
       count(DISTINCT a.odoo_id) AS rows
FROM scrap_sga.audit_log a
CROSS JOIN LATERAL (SELECT scrap_sga._audit_diff(jsonb_populate_record(o, '{"id": 0}'), jsonb_populate_record(n, '{"id": 0}')) AS d
                    FROM sample o, sample n WHERE o.id = a.odoo_id % 6 + 1 AND n.id = (a.odoo_id + 1) % 6 + 1) x
WHERE a.run_id = 11;

-- Fired any other way, it says how it must be fired.
CREATE TRIGGER misfired BEFORE UPDATE ON sample FOR EACH ROW EXECUTE FUNCTION scrap_sga.audit_update();
UPDATE sample SET name = 'x' WHERE id = 1;
DROP TRIGGER misfired ON sample;

-- The audit follows a row by its id: an UPDATE of id is refused, not logged as another row's.
UPDATE mirror SET id = id + 100000 WHERE id = 1;

-- Only rows of a table are compared, with columns of the same types.
SELECT scrap_sga._audit_diff(1, 2);
SELECT scrap_sga._audit_diff(ROW('x'::text), ROW(1));
DROP TABLE mirror, sample CASCADE;
DROP EXTENSION scrap_sga;
