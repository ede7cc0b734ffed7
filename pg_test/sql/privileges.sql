-- Who may do what. PUBLIC gets nothing; the DBA grants one of two roles.
CREATE EXTENSION scrap_sga;

SELECT r.rolname, r.rolcanlogin, coalesce(string_agg(m.rolname, ','), '') AS member_of
FROM pg_roles r LEFT JOIN pg_auth_members a ON a.member = r.oid LEFT JOIN pg_roles m ON m.oid = a.roleid
WHERE r.rolname LIKE 'scrap\_sga\_%' GROUP BY 1, 2 ORDER BY 1;

-- Tables and views: the reader reads the run log, the status, the audit; nobody reads the connection.
SELECT table_name, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type) AS privileges
FROM information_schema.role_table_grants
WHERE table_schema = 'scrap_sga' AND grantee IN ('PUBLIC', 'scrap_sga_reader', 'scrap_sga_operator')
GROUP BY 1, 2 ORDER BY 1, 2;

-- Functions: the operator's entry points; PUBLIC may execute none.
SELECT p.proname, p.prosecdef AS security_definer,
       has_function_privilege('scrap_sga_operator', p.oid, 'EXECUTE') AS operator,
       has_function_privilege('scrap_sga_reader', p.oid, 'EXECUTE') AS reader
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'scrap_sga' ORDER BY 1;

SELECT has_table_privilege('scrap_sga_operator', 'scrap_sga.connection', 'SELECT') AS operator_reads_secret,
       has_schema_privilege('public', 'scrap_sga', 'USAGE') AS public_uses_schema;

DROP EXTENSION scrap_sga;
