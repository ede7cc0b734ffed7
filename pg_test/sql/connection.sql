-- Giving the extension its Odoo: set_connection() checks what it is given, and no error, log
-- line or readable column ever shows the secret.
CREATE EXTENSION scrap_sga;

-- The connection must be a URL, the secret must be given once.
SELECT scrap_sga.set_connection('erp.example.com', 'db', 'admin', 'hunter2');
-- A URL refused is shown without its user:password@.
SELECT scrap_sga.set_connection('htps://sync:hunter2@erp.example.com', 'db', 'admin', 'k');
SELECT scrap_sga.set_connection('sync:hunter2@erp.example.com', 'db', 'admin', 'k');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', 'admin', '');
-- The protocol is one of three; JSON-RPC needs a login, JSON-2 does not; a key comes inline or
-- from a file, never both; the file is an absolute path the server can read.
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', protocol => 'xmlrpc');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', protocol => 'jsonrpc');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', secret_file => '/etc/key');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret_file => 'relative/key');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret_file => '/nonexistent/odoo-api-key');
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', max_requests_per_second => 0);
SELECT scrap_sga.set_connection('https://erp.example.com', 'db', secret => 'k', max_requests_per_second => 'NaN');

-- Accepted: one connection, set again by the next call. The secret is kept where only the
-- extension's owner reads it.
SELECT scrap_sga.set_connection('https://erp.example.com/', 'db', 'sync@example.com', 'hunter2', protocol => 'jsonrpc');
SELECT scrap_sga.set_connection('https://erp.example.com', 'prod', secret => 'an-api-key', max_requests_per_second => 1);
SELECT url, database, login, protocol, max_requests_per_second, secret IS NOT NULL AS has_secret FROM scrap_sga.connection;
SELECT has_table_privilege('scrap_sga_reader', 'scrap_sga.connection', 'SELECT') AS reader_reads_it,
       has_table_privilege('scrap_sga_operator', 'scrap_sga.connection', 'SELECT') AS operator_reads_it;

-- A failing run names the server, never the secret.
SELECT scrap_sga.set_connection('http://127.0.0.1:9', 'db', secret => 'a-secret-that-must-not-show');
SELECT count(*) FROM scrap_sga.sync('dimagaz.bc');
SELECT status, sqlstate, error LIKE '%127.0.0.1:9%' AS names_the_server, error LIKE '%a-secret%' AS shows_the_secret
FROM scrap_sga.sync_run ORDER BY run_id DESC LIMIT 1;

DROP EXTENSION scrap_sga;
