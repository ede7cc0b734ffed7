//! Issue 9: the protocol is chosen by itself for Odoo 18, 19 and 20; the API key can come from
//! a file that is read at every run; each kind of refusal is a clear error; the key never
//! reaches the server log.
use scrap_sga_e2e::{compare_both_mirrors, Cluster, Db, Sim, API_KEY};
use serde_json::json;

#[test]
fn auto_picks_jsonrpc_for_18_and_json2_for_19_and_20() {
    for (version, protocol) in [(18, "jsonrpc"), (19, "json2"), (20, "json2")] {
        let sim = Sim::start_as(version, 40, 120);
        let db = Db::fresh(&format!("e2e_auto_{version}"));
        db.connect_to(&sim);
        db.sync();
        assert_eq!(
            db.sql("SELECT string_agg(DISTINCT protocol || ' ' || odoo_version, ',') FROM scrap_sga.sync_run WHERE status = 'succeeded'"),
            format!("{protocol} {version}.0"),
            "Odoo {version}"
        );
        let stats = sim.stats();
        let used = |p: &str| stats["protocols"][p].as_u64().unwrap_or(0);
        if protocol == "json2" {
            assert_eq!(used("jsonrpc"), 0, "Odoo {version}: no JSON-RPC at all: {stats}");
            assert_eq!(used("version"), 1, "Odoo {version}: the version is asked once per run: {stats}");
        } else {
            assert_eq!(used("json2"), 0, "{stats}");
        }
        assert!(stats["user_agent"].as_str().unwrap_or("").starts_with("scrap_sga/0."), "{stats}");
        assert_eq!(stats["non_read_calls"], json!(0));
        let problems = compare_both_mirrors(&db, &sim);
        assert!(problems.is_empty(), "Odoo {version}:\n{}", problems.join("\n"));
    }
}

#[test]
fn jsonrpc_takes_the_api_key_as_password_and_needs_a_login() {
    // Odoo 19 still has /jsonrpc: forced, it logs in with the API key in place of the password.
    let sim = Sim::start_as(19, 10, 20);
    let db = Db::fresh("e2e_jsonrpc_key");
    db.sql(&format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', 'admin', '{API_KEY}', protocol => 'jsonrpc')", sim.url));
    db.sync();
    assert_eq!(db.sql("SELECT string_agg(DISTINCT protocol, ',') FROM scrap_sga.sync_run"), "jsonrpc");
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 10);

    let err = db.try_sql(&format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret => 'x', protocol => 'jsonrpc')", sim.url)).unwrap_err();
    assert!(err.stderr.contains("JSON-RPC needs a login"), "{}", err.stderr);
    // With auto, an Odoo 18 turns out to need one: the run says so.
    let sim18 = Sim::start_as(18, 10, 20);
    db.sql(&format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret => 'admin')", sim18.url));
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("this Odoo (18.0) is spoken to over JSON-RPC, which needs a login"), "{}", err.stderr);
    assert_eq!(db.last_run("dimagaz.bc")["sqlstate"], json!("22023"));
}

#[test]
fn a_missing_read_right_an_unknown_database_and_html_pages_are_clear_errors() {
    let sim = Sim::start_as(20, 10, 30);
    let db = Db::fresh("e2e_refusals");
    db.connect_to(&sim);
    db.sync();

    sim.post("/sim/acl", json!({"model": "dimagaz.bc.line", "read": false}));
    sim.post("/sim/touch", json!({"model": "dimagaz.bc.line", "ids": [1]}));
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("the Odoo user has no read access to model dimagaz.bc.line (odoo.exceptions.AccessError"), "{}", err.stderr);
    assert_eq!(db.last_run("dimagaz.bc.line")["sqlstate"], json!("42501"));
    assert_eq!(db.last_run("dimagaz.bc")["status"], json!("succeeded"), "the other model is not held back");
    sim.post("/sim/acl", json!({"model": "dimagaz.bc.line", "read": true}));
    db.sync();

    db.sql(&format!("SELECT scrap_sga.set_connection('{}', 'nosuchdb', secret => '{API_KEY}')", sim.url));
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("database \"nosuchdb\" was not found on the Odoo server"), "{}", err.stderr);
    assert_eq!(db.last_run("dimagaz.bc")["sqlstate"], json!("3D000"));
    db.connect_to(&sim);

    // A proxy's (or a dead Odoo's) HTML page: its title, never the markup (on the listing of a
    // window that changed).
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 1, "values": {"notes": "listed"}}));
    sim.post("/sim/fault", json!({"kind": "http500", "method": "search_read", "count": -1}));
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("answered HTTP 500 with a text/html body of 60 bytes: \"500 Internal Server Error\""), "{}", err.stderr);
    assert!(!err.stderr.contains("<h1>"), "{}", err.stderr);
    assert_eq!(db.last_run("dimagaz.bc")["sqlstate"], json!("08P01"));
    sim.post("/sim/faults/clear", json!({}));
    db.sync();

    // Nothing answers either protocol there: one error, naming what was tried.
    db.sql(&format!("SELECT scrap_sga.set_connection('{}/nothing', 'dimagaz', secret => '{API_KEY}')", sim.url));
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    for tried in ["answered neither JSON-2 nor JSON-RPC", "GET /json/version (HTTP 404", "GET /web/version (HTTP 404", "POST /jsonrpc common.version (HTTP 404"] {
        assert!(err.stderr.contains(tried), "{tried}: {}", err.stderr);
    }
    assert_eq!(db.last_run("dimagaz.bc")["sqlstate"], json!("08P01"));
    assert_eq!(db.verify_after(&sim), json!([]));
}

/// A file only the server's OS user can read, holding `text`.
fn key_file(dir: &std::path::Path, text: &str, mode: &str) -> String {
    let path = dir.join("odoo-api-key");
    // A new file renamed over the old one, as a rotation would do it.
    let tmp = dir.join("odoo-api-key.new");
    std::fs::write(&tmp, format!("{text}\n")).unwrap();
    std::process::Command::new("chown").arg("postgres:postgres").arg(&tmp).status().unwrap();
    std::process::Command::new("chmod").arg(mode).arg(&tmp).status().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_key_file_is_read_at_every_run_refused_when_others_can_read_it_and_never_logged() {
    let cluster = Cluster::start("keyfile", &["scrap_sga.enabled = off", "log_min_error_statement = error"]);
    let db = cluster.db("postgres");
    db.sql("CREATE EXTENSION scrap_sga");
    let sim = Sim::start_as(20, 20, 40);
    let dir = cluster.dir.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    std::process::Command::new("chown").arg("postgres:postgres").arg(&dir).status().unwrap();
    let path = key_file(&dir, API_KEY, "600");

    db.sql(&format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret_file => '{path}')", sim.url));
    db.sync();
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 20);
    assert_eq!(db.sql("SELECT secret IS NULL AND secret_file IS NOT NULL FROM scrap_sga.connection"), "t", "the key is not stored");

    // Revoked in Odoo: 28P01, then a new key in the file is enough, with no SQL at all.
    let new_key = sim.rotate_secret();
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("Odoo refused the API key on database \"dimagaz\""), "{}", err.stderr);
    assert_eq!(db.last_run("dimagaz.bc")["sqlstate"], json!("28P01"));
    key_file(&dir, &new_key, "600");
    sim.post("/sim/touch", json!({"model": "dimagaz.bc", "ids": [3]}));
    let ok = db.sync();
    assert_eq!(ok[0]["updated"], json!(1), "{ok}");

    // A file that other OS users can read is refused, at set_connection and at a run.
    key_file(&dir, &new_key, "644");
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains(&format!("the secret file {path} can be read by other OS users (mode 0644)")), "{}", err.stderr);
    assert_eq!(db.last_run("dimagaz.bc")["sqlstate"], json!("F0000"));
    let err = db.try_sql(&format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret_file => '{path}')", sim.url)).unwrap_err();
    assert!(err.stderr.contains("can be read by other OS users") && err.stderr.contains("F0000") || err.stderr.contains("mode 0644"), "{}", err.stderr);
    let err = db.try_sql(&format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret_file => '/nonexistent/key')", sim.url)).unwrap_err();
    assert!(err.stderr.contains("cannot read the secret file /nonexistent/key"), "{}", err.stderr);
    // Only those who may read server files may name one.
    db.sql("DROP ROLE IF EXISTS e2e_plain; CREATE ROLE e2e_plain LOGIN");
    db.sql("GRANT USAGE ON SCHEMA scrap_sga TO e2e_plain; GRANT EXECUTE ON FUNCTION scrap_sga.set_connection(text, text, text, text, text, text, real) TO e2e_plain");
    let err = db.try_sql_as("e2e_plain", &format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret_file => '{path}')", sim.url)).unwrap_err();
    assert!(err.stderr.contains("needs the privileges of pg_read_server_files") || err.stderr.contains("permission denied"), "{}", err.stderr);
    key_file(&dir, &new_key, "600");

    // Failed calls, with the key in a file and with an inline secret: neither key reaches the log.
    let inline = "inline-s3cret-0123456789";
    assert!(db.try_sql(&format!("SELECT scrap_sga.set_connection('ftp://bad', 'dimagaz', secret_file => '{path}')")).is_err());
    assert!(db.try_sql(&format!("SELECT scrap_sga.set_connection('ftp://bad', 'dimagaz', 'admin', '{inline}')")).is_err());
    sim.rotate_secret();
    assert!(db.try_sql("SELECT * FROM scrap_sga.sync()").is_err());
    let log = cluster.log();
    assert!(log.contains("url must start with http:// or https://"), "the failures are logged: {log}");
    for secret in [API_KEY, new_key.as_str(), inline] {
        assert!(!log.contains(secret), "{secret} is in the server log");
    }
}
