//! Issue 2: a full copy from the simulator, value for value; a second sync writes nothing;
//! a wrong password writes nothing; archived records are kept.
use scrap_sga_e2e::{compare_mirror, eventually, Db, Sim};
use serde_json::json;

fn counts(result: &serde_json::Value, model: &str) -> (i64, i64, i64, i64) {
    let row = result.as_array().unwrap().iter().find(|r| r["model"] == model).unwrap_or_else(|| panic!("no row for {model}: {result}"));
    let n = |k: &str| row[k].as_i64().unwrap();
    (n("fetched"), n("inserted"), n("updated"), n("unchanged"))
}

/// A fingerprint of every row version: unchanged unless something was written.
fn row_versions(db: &Db, table: &str) -> String {
    db.sql(&format!("SELECT md5(string_agg(ctid::text || xmin::text, ',' ORDER BY id)) FROM {table}"))
}

#[test]
fn full_sync_copies_every_column_of_every_record() {
    let sim = Sim::start(1000, 5000);
    let db = Db::fresh("e2e_full_sync");
    db.connect_to(&sim);

    let result = db.sync();
    assert_eq!(counts(&result, "dimagaz.bc"), (1000, 1000, 0, 0), "{result}");
    assert_eq!(counts(&result, "dimagaz.bc.line"), (5000, 5000, 0, 0), "{result}");

    let problems = compare_mirror(&db, &sim, "dimagaz.bc", "scrap_dimagaz_bc");
    assert!(problems.is_empty(), "orders differ:\n{}", problems.join("\n"));
    let problems = compare_mirror(&db, &sim, "dimagaz.bc.line", "scrap_dimagaz_bc_line");
    assert!(problems.is_empty(), "lines differ:\n{}", problems.join("\n"));

    // Odoo's id is the primary key: no duplicates are possible.
    assert_eq!(db.sql("SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'scrap_dimagaz_bc'::regclass AND i.indisprimary"), "id");
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'succeeded'"), 2);
    // Nothing but read methods reached Odoo.
    assert_eq!(sim.stats()["non_read_calls"], json!(0));
}

#[test]
fn a_second_sync_writes_nothing() {
    let sim = Sim::start(300, 1200);
    let db = Db::fresh("e2e_second_sync");
    db.connect_to(&sim);
    db.sync();
    let before = (row_versions(&db, "scrap_dimagaz_bc"), row_versions(&db, "scrap_dimagaz_bc_line"));
    let writes = |table: &str| db.int(&format!("SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = '{table}'"));
    let writes_before = (writes("scrap_dimagaz_bc"), writes("scrap_dimagaz_bc_line"));

    let result = db.sync();
    let (_, inserted, updated, _) = counts(&result, "dimagaz.bc");
    assert_eq!((inserted, updated), (0, 0), "{result}");
    let (_, inserted, updated, _) = counts(&result, "dimagaz.bc.line");
    assert_eq!((inserted, updated), (0, 0), "{result}");
    assert_eq!(before, (row_versions(&db, "scrap_dimagaz_bc"), row_versions(&db, "scrap_dimagaz_bc_line")), "no row may be rewritten");
    // Not even a row lock (a lock sets xmax and dirties the page), and no write in the table statistics.
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc WHERE xmax <> '0'"), 0, "rows were locked");
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc_line WHERE xmax <> '0'"), 0, "rows were locked");
    assert_eq!(writes_before, (writes("scrap_dimagaz_bc"), writes("scrap_dimagaz_bc_line")));
}

#[test]
fn a_wrong_password_is_a_clear_error_and_writes_nothing() {
    let sim = Sim::start(50, 100);
    let db = Db::fresh("e2e_wrong_password");
    db.connect_to(&sim);
    db.sync();
    let before = row_versions(&db, "scrap_dimagaz_bc");

    db.connect_with(&sim, "not-the-password");
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").expect_err("a wrong password must fail the sync");
    assert!(err.stderr.contains(sim.refusal_text()), "{}", err.stderr);
    assert!(!err.stderr.contains("not-the-password"), "the secret leaked: {}", err.stderr);
    assert_eq!(db.sql("SELECT string_agg(DISTINCT sqlstate, ',') FROM scrap_sga.sync_run WHERE status = 'failed'"), "28P01");
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'failed'"), 2, "one failed run per model");
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE error LIKE '%not-the-password%'"), 0);
    assert_eq!(before, row_versions(&db, "scrap_dimagaz_bc"));
}

#[test]
fn archived_records_are_present_and_inactive() {
    let sim = Sim::start(400, 400);
    let db = Db::fresh("e2e_archived");
    db.connect_to(&sim);
    db.sync();
    let archived: Vec<i64> = sim.dump("dimagaz.bc").iter().filter(|r| r["active"] == json!(false)).map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(archived.len() > 5, "the simulator archives about 1 order in 20");
    let in_pg = db.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM scrap_dimagaz_bc WHERE active = false");
    assert_eq!(in_pg, archived.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 400);
}

#[test]
fn sync_of_one_model_and_of_an_unknown_model() {
    let sim = Sim::start(20, 40);
    let db = Db::fresh("e2e_one_model");
    db.connect_to(&sim);
    let result = db.json("SELECT json_agg(s) FROM scrap_sga.sync('dimagaz.bc') s");
    assert_eq!(result.as_array().unwrap().len(), 1);
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 20);
    assert_eq!(db.sql("SELECT to_regclass('scrap_dimagaz_bc_line') IS NULL"), "t");
    let err = db.try_sql("SELECT * FROM scrap_sga.sync('no.such.model')").unwrap_err();
    assert!(err.stderr.contains("model \"no.such.model\" is not registered in scrap_sga.model"), "{}", err.stderr);
}

#[test]
fn a_pg_dump_restores_into_a_new_database_with_every_model_setting_and_row() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let sim = Sim::start(30, 60);
    let db = Db::fresh("e2e_dump_from");
    db.connect_to(&sim);
    // The DBA's own choices: a model added (not enabled yet), a setting changed, then one of the
    // two removed.
    db.sql("SELECT model FROM scrap_sga.add_model('res.partner')");
    db.sql("UPDATE scrap_sga.model SET enabled = false WHERE model = 'res.partner'");
    db.sql("UPDATE scrap_sga.model SET page_size = 777 WHERE model = 'dimagaz.bc'");
    db.sync();
    db.sql("DELETE FROM scrap_sga.model WHERE model = 'dimagaz.bc.line'");
    let catalog = |d: &Db| d.sql("SELECT string_agg(format('%s %s %s', model, page_size, cursor IS NOT NULL), ', ' ORDER BY model) FROM scrap_sga.model");
    let before = catalog(&db);
    assert_eq!(before, "dimagaz.bc 777 t, res.partner 2000 f");

    let dump = Command::new(scrap_sga_e2e::pg_bin("pg_dump")).args(["-h", &db.host, "-p", &db.port, "-U", "postgres", "-d", &db.name]).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let admin = Db { name: "postgres".into(), host: db.host.clone(), port: db.port.clone() };
    admin.sql("DROP DATABASE IF EXISTS e2e_dump_to WITH (FORCE)");
    admin.sql("CREATE DATABASE e2e_dump_to");
    let to = Db { name: "e2e_dump_to".into(), host: db.host.clone(), port: db.port.clone() };
    // In one transaction, stopping at the first error: CREATE EXTENSION used to register the two
    // models the dump's rows then collided with, and every model and setting was lost.
    let mut restore = Command::new(scrap_sga_e2e::pg_bin("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-h", &to.host, "-p", &to.port, "-U", "postgres", "-d", &to.name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    restore.stdin.take().unwrap().write_all(&dump.stdout).unwrap();
    let out = restore.wait_with_output().unwrap();
    assert!(out.status.success(), "the restore failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(catalog(&to), before);
    assert_eq!((to.int("SELECT count(*) FROM scrap_dimagaz_bc"), to.int("SELECT count(*) FROM scrap_dimagaz_bc_line")), (30, 60));
    assert_eq!(to.int("SELECT count(*) FROM scrap_sga.connection"), 0, "the secret is not in the dump");

    // Given its connection again, it goes on where it was: no model comes back, nothing is
    // copied again.
    to.connect_to(&sim);
    assert_eq!(catalog(&to), before);
    let result = to.sync();
    assert_eq!(counts(&result, "dimagaz.bc").1 + counts(&result, "dimagaz.bc").2, 0, "{result}");
    assert_eq!(to.sql("SELECT string_agg(DISTINCT mode, ',') FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)"), "incremental");
}

#[test]
fn drop_extension_keeps_the_data_and_pg_dump_includes_it() {
    let sim = Sim::start(30, 60);
    let db = Db::fresh("e2e_drop_extension");
    db.connect_to(&sim);
    db.sync();

    // pg_dump has the mirror tables with their rows, and the extension's configuration rows.
    let dump = std::process::Command::new(scrap_sga_e2e::pg_bin("pg_dump"))
        .args(["-h", &db.host, "-p", &db.port, "-U", "postgres", "-d", &db.name])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("CREATE TABLE public.scrap_dimagaz_bc ("), "mirror table missing from pg_dump");
    assert!(dump.contains("COPY public.scrap_dimagaz_bc_line ("), "mirror rows missing from pg_dump");
    assert!(dump.contains("COPY scrap_sga.model ("), "catalog rows missing from pg_dump");

    // The audit triggers on the mirror tables depend on the extension: a plain DROP EXTENSION is
    // refused, and even with CASCADE only the triggers go; the data stays.
    let err = db.try_sql("DROP EXTENSION scrap_sga").unwrap_err();
    assert!(err.stderr.contains("cannot drop extension scrap_sga because other objects depend on it"), "{}", err.stderr);
    db.sql("DROP EXTENSION scrap_sga CASCADE");
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 30);
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc_line"), 60);

    // Re-created, it adopts the existing tables: no duplicates, nothing rewritten, audit back on.
    db.sql("CREATE EXTENSION scrap_sga");
    db.connect_to(&sim);
    let result = db.sync();
    for row in result.as_array().unwrap() {
        assert_eq!((row["inserted"].as_i64(), row["updated"].as_i64()), (Some(0), Some(0)), "{result}");
    }
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 30);
    assert_eq!(db.int("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'scrap_dimagaz_bc'::regclass AND tgname LIKE 'scrap_sga_audit_%'"), 2);
}

#[test]
fn a_cancelled_sync_waiting_for_its_model_stops_waiting_at_once() {
    use std::process::Command;
    let sim = Sim::start(30, 0);
    let db = Db::fresh("e2e_cancel_wait");
    db.connect_to(&sim);
    db.sync();
    let psql = |sql: &str| {
        let mut c = Command::new(scrap_sga_e2e::pg_bin("psql"));
        c.args(["-X", "-q", "-h", &db.host, "-p", &db.port, "-U", "postgres", "-d", &db.name, "-c", sql]);
        c
    };
    // Another session holds the model's lock for 30 s, as a long run would.
    let mut holder = psql("SELECT pg_advisory_lock(hashtext('scrap_sga'), hashtext('dimagaz.bc')), pg_sleep(30)").spawn().unwrap();
    assert!(eventually(10, || db.int("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == 1));
    // A sync() of that model, cancelled after a second: its worker stops waiting for the lock
    // too (it waited, holding its worker slot, until the lock was released).
    let out = psql("SELECT * FROM scrap_sga.sync('dimagaz.bc')").env("PGOPTIONS", "-c statement_timeout=1000").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("statement timeout"), "{}", String::from_utf8_lossy(&out.stderr));
    let gone = eventually(5, || db.int("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'scrap_sga sync'") == 0);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(gone, "the job worker still waits for the lock");
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'running'"), 0);
}

#[test]
fn two_concurrent_syncs_never_work_on_the_same_model_at_once() {
    let sim = Sim::start(300, 0);
    let db = Db::fresh("e2e_concurrent");
    db.connect_to(&sim);
    db.sql("UPDATE scrap_sga.model SET page_size = 50");
    // Every page takes 150 ms: the first sync holds dimagaz.bc for about a second.
    sim.post("/sim/fault", json!({"kind": "delay", "method": "search_read", "delay_ms": 150, "count": -1}));
    let spawn = || db.spawn_sql("SELECT count(*) FROM scrap_sga.sync('dimagaz.bc')");
    let first = spawn();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = spawn();
    assert!(first.join().unwrap().is_ok());
    assert!(second.join().unwrap().is_ok(), "the second call waits, then succeeds");
    let runs = db.json("SELECT json_agg(json_build_object('s', started_at, 'f', finished_at, 'n', inserted) ORDER BY run_id) FROM scrap_sga.sync_run");
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    // Timestamps in the same format compare as text: the second run started after the first ended.
    assert!(runs[1]["s"].as_str().unwrap() >= runs[0]["f"].as_str().unwrap(), "the runs overlapped: {runs:?}");
    assert_eq!((runs[0]["n"].as_i64(), runs[1]["n"].as_i64()), (Some(300), Some(0)), "{runs:?}");
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 300);
}
