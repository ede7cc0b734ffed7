-- The mirror tables are the DBA's data, not the extension's: DROP EXTENSION never takes them
-- (and pg_dump includes them: tests/tests/first_sync.rs), and a re-created extension adopts
-- them without copying again.
\getenv sim_url SGA_SIM_URL
CREATE EXTENSION scrap_sga;
SELECT scrap_sga.set_connection(:'sim_url', 'dimagaz', 'admin', 'admin');
SELECT model, status, inserted FROM scrap_sga.sync() ORDER BY model;

-- Not members of the extension; the audit triggers on them are.
SELECT c.relname, EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') AS extension_member
FROM pg_class c WHERE c.relname LIKE 'scrap\_dimagaz%' AND c.relkind = 'r' ORDER BY 1;

-- A plain DROP EXTENSION is refused (the triggers depend on it); with CASCADE only the triggers
-- go, and every row stays.
DROP EXTENSION scrap_sga;
DROP EXTENSION scrap_sga CASCADE;
SELECT (SELECT count(*) FROM scrap_dimagaz_bc) AS orders, (SELECT count(*) FROM scrap_dimagaz_bc_line) AS lines,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'scrap_dimagaz_bc'::regclass AND NOT tgisinternal) AS triggers;

-- Created again, it adopts the tables: nothing inserted or rewritten, the audit triggers back.
CREATE EXTENSION scrap_sga;
SELECT scrap_sga.set_connection(:'sim_url', 'dimagaz', 'admin', 'admin');
SELECT model, status, inserted, updated FROM scrap_sga.sync() ORDER BY model;
SELECT (SELECT count(*) FROM scrap_dimagaz_bc) AS orders,
       (SELECT string_agg(tgname, ', ' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'scrap_dimagaz_bc'::regclass AND NOT tgisinternal) AS triggers;

DROP EXTENSION scrap_sga CASCADE;
DROP TABLE scrap_dimagaz_bc, scrap_dimagaz_bc_line;
