//! Issue 32: a full pass cut by a 502, a cancel, a terminated worker or a crash of the server
//! resumes from its checkpoint at the next run and reads only what was left; the mirror then
//! equals Odoo, with what changed during the interruption; a pass whose columns changed starts
//! anew; a parallel pass resumes each stream; a run under way shows how far it is, in
//! `scrap_sga.progress` and in the NOTICEs of a waiting `sync()`.
use scrap_sga_e2e::{compare_mirror, count, eventually, odoo_version, pg_bin, Cluster, Db, Sim};
use serde_json::{json, Value};

const LINES: &str = "dimagaz.bc.line";
const TABLE: &str = "scrap_dimagaz_bc_line";

/// The full pass left by a cut run, as `scrap_sga.full_pass` has it (null when there is none).
fn pass_left(db: &Db) -> Value {
    db.json(&format!("SELECT to_jsonb(p) FROM scrap_sga.full_pass p WHERE model = '{LINES}'"))
}

fn sync_lines(db: &Db) -> Result<String, String> {
    db.try_sql(&format!("SELECT count(*) FROM scrap_sga.sync('{LINES}')")).map_err(|e| e.stderr)
}

/// From the page after `pages` on, every page fails with a 502, as from a proxy in front of an
/// Odoo gone down, and so does every count after the first (the count that tells a page too
/// heavy from a server gone too).
fn cut_after(sim: &Sim, pages: i64) {
    sim.post("/sim/fault", json!({"kind": "http502", "method": "search_read", "after": pages, "count": -1}));
    sim.post("/sim/fault", json!({"kind": "http502", "method": "search_count", "after": 1, "count": -1}));
}

/// Odoo changes while the pass is cut: a line copied before the cut and one not copied yet are
/// written, a line is created, one on either side of the cut is deleted.
fn change_during_the_cut(sim: &Sim, copied: i64, not_yet: i64) {
    sim.post("/sim/write", json!({"model": LINES, "id": copied, "values": {"name": "written after it was copied"}}));
    sim.post("/sim/write", json!({"model": LINES, "id": not_yet, "values": {"name": "written before it was copied"}}));
    sim.post("/sim/create", json!({"model": LINES, "values": {}}));
    sim.post("/sim/delete", json!({"model": LINES, "id": copied + 1}));
    sim.post("/sim/delete", json!({"model": LINES, "id": not_yet + 1}));
}

/// After the run that finished the pass, one more (incremental) run: the mirror equals Odoo.
fn settles(db: &Db, sim: &Sim) {
    sync_lines(db).expect("the run after the pass");
    assert_eq!(compare_mirror(db, sim, LINES, TABLE), Vec::<String>::new());
    assert_eq!(db.json(&format!("SELECT coalesce(json_agg(v), '[]') FROM scrap_sga.verify('{LINES}') v")), json!([]));
}

#[test]
fn a_pass_cut_by_a_502_resumes_from_its_checkpoint_and_reads_only_what_was_left() {
    let sim = Sim::start(20, 3000);
    let db = Db::fresh("e2e_resume_502");
    db.connect_then(&sim, "UPDATE scrap_sga.model SET page_size = 200");
    cut_after(&sim, 5);
    let err = sync_lines(&db).expect_err("the 502 fails the run");
    assert!(err.contains("502"), "{err}");
    let cut = db.last_run(LINES);
    assert_eq!((cut["status"].as_str(), count(&cut, "fetched")), (Some("failed"), 1000), "five pages committed: {cut}");
    let left = pass_left(&db);
    assert_eq!((count(&left, "done"), count(&left, "expected")), (1000, 3000), "{left}");
    assert_eq!(db.sql(&format!("SELECT full_pass_done || ' of ' || full_pass_expected FROM scrap_sga.status WHERE model = '{LINES}'")), "1000 of 3000");

    change_during_the_cut(&sim, 5, 2500);
    sim.post("/sim/faults/clear", json!({}));
    sync_lines(&db).expect("the pass resumes");
    let resumed = db.last_run(LINES);
    assert_eq!((resumed["status"].as_str(), resumed["mode"].as_str()), (Some("succeeded"), Some("full")), "{resumed}");
    assert_eq!(resumed["resumed_from"], json!(1000), "{resumed}");
    // Lines 1001 to 3000, less the one deleted past the cut, plus the one created: nothing
    // before the checkpoint is read again by the pass. (The first copy never reconciled: this
    // run does, and reads the line written after it was copied, a repair.)
    assert_eq!(count(&resumed, "fetched") - count(&resumed, "repaired"), 2000, "{resumed}");
    assert_eq!(pass_left(&db), Value::Null, "the pass is over");
    settles(&db, &sim);
}

#[test]
fn a_pass_resumes_after_a_cancel_a_terminated_worker_and_an_immediate_shutdown() {
    // Pages of 100 lines at 3 ms a line: a third of a second each.
    let sim = Sim::start_with(odoo_version(), 20, 2400, &["--cost-line-us", "3000"]);
    // The scheduler paused: every run here is a sync() of the test's.
    let cluster = Cluster::start("resume", &["scrap_sga.database = 'resume'", "scrap_sga.enabled = off"]);
    cluster.db("postgres").sql("CREATE DATABASE resume");
    let db = cluster.db("resume");
    db.sql("CREATE EXTENSION scrap_sga");
    db.connect_then(&sim, "UPDATE scrap_sga.model SET page_size = 100");
    let done = || db.json(&format!("SELECT coalesce((SELECT done FROM scrap_sga.full_pass WHERE model = '{LINES}'), 0)")).as_i64().unwrap();
    let mut fetched_before = 0;

    // 1. A cancel: statement_timeout stops sync(), and its worker with it.
    let out = std::process::Command::new(pg_bin("psql"))
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "postgres", "-d", "resume"])
        .args(["-c", &format!("SELECT * FROM scrap_sga.sync('{LINES}')")])
        .env("PGOPTIONS", "-c statement_timeout=2000")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("statement timeout"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(eventually(10, || db.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'scrap_sga sync'") == "0"), "the worker stopped");
    let after_cancel = done();
    assert!(after_cancel > 0 && after_cancel < 2400, "cut in the middle: {after_cancel}");

    // 2. The worker terminated (pg_terminate_backend) while the pass goes on from there.
    let background = db.spawn_sql(&format!("SELECT count(*) FROM scrap_sga.sync('{LINES}')"));
    assert!(eventually(30, || done() >= after_cancel + 300), "the resumed pass goes on");
    let resumed = db.last_run(LINES);
    assert_eq!(resumed["resumed_from"].as_i64(), Some(after_cancel), "{resumed}");
    fetched_before += after_cancel;
    db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'scrap_sga sync'");
    assert!(background.join().unwrap().is_err(), "the sync() whose worker was terminated fails");
    let after_kill = done();
    assert!(after_kill > after_cancel && after_kill < 2400, "{after_kill}");
    let killed = db.last_run(LINES);
    assert_eq!(killed["status"].as_str(), Some("failed"), "{killed}");
    fetched_before += count(&killed, "fetched");
    assert_eq!(fetched_before, after_kill, "each attempt read only what was left: {killed}");

    // 3. The server stops at once (pg_ctl -m immediate) during the pass.
    let background = db.spawn_sql(&format!("SELECT count(*) FROM scrap_sga.sync('{LINES}')"));
    assert!(eventually(30, || done() >= after_kill + 300), "the pass goes on after the terminated worker");
    cluster.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    assert!(background.join().unwrap().is_err());
    cluster.pg_ctl(&["start", "-w", "-t", "60"]);
    let after_crash = done();
    assert!(after_crash >= after_kill && after_crash < 2400, "what was committed before the crash is kept, checkpoint and rows together: {after_crash}");
    change_during_the_cut(&sim, 5, 2300);
    sim.post("/sim/cost", json!({"model": LINES, "per_record_us": 0}));
    sync_lines(&db).expect("the pass resumes after the restart");
    let last = db.last_run(LINES);
    assert_eq!((last["status"].as_str(), last["resumed_from"].as_i64()), (Some("succeeded"), Some(after_crash)), "{last}");
    // What was left, less the line deleted past the cut, plus the line created; and the
    // reconcile a first copy owes, which reads again the line written after it was copied.
    assert_eq!(count(&last, "fetched") - count(&last, "repaired"), 2400 - after_crash, "{last}");
    let rows_match = db.int(&format!("SELECT count(*) FROM {TABLE}")) == db.int(&format!("SELECT count(DISTINCT id) FROM {TABLE}"));
    assert!(rows_match, "no row twice");
    settles(&db, &sim);
}

#[test]
fn a_pass_whose_columns_changed_starts_anew_and_a_parallel_pass_resumes_each_stream() {
    // Two streams over 8 ranges of 375 ids, 4 pages each: cut after 6 pages, each stream is
    // in the middle of its first range.
    let sim = Sim::start_with(odoo_version(), 20, 3000, &["--workers", "4", "--cost-line-us", "200"]);
    let db = Db::fresh("e2e_resume_plan");
    db.connect_then(&sim, "UPDATE scrap_sga.model SET page_size = 100, parallel = 2");
    cut_after(&sim, 6);
    sync_lines(&db).expect_err("cut");
    let ranges = db.json(&format!("SELECT json_agg(r ORDER BY lo) FROM scrap_sga.full_pass_range r WHERE model = '{LINES}'"));
    let started = ranges.as_array().unwrap().iter().filter(|r| r["done_through"] != r["lo"]).count();
    assert!(started >= 2, "both streams got somewhere in their range before the cut: {ranges}");
    let done = count(&pass_left(&db), "done");
    sim.post("/sim/faults/clear", json!({}));
    sync_lines(&db).expect("every stream resumes");
    let resumed = db.last_run(LINES);
    assert!(resumed["resumed_from"].is_i64(), "{resumed}");
    assert_eq!(count(&resumed, "fetched"), 3000 - done, "each range from where it got to: {resumed}");
    assert_eq!(compare_mirror(&db, &sim, LINES, TABLE), Vec::<String>::new());

    // A pass cut, then a new field in Odoo: what it copies changed, and it starts anew.
    cut_after(&sim, 5);
    db.try_sql(&format!("SELECT * FROM scrap_sga.full_resync('{LINES}')")).expect_err("cut");
    assert!(count(&pass_left(&db), "done") > 0);
    sim.post("/sim/faults/clear", json!({}));
    sim.post("/sim/field/add", json!({"model": LINES, "name": "x_lot_note", "type": "char"}));
    db.sql(&format!("UPDATE scrap_sga.model SET schema_checked_at = NULL WHERE model = '{LINES}'"));
    sync_lines(&db).expect("the pass starts anew");
    let anew = db.last_run(LINES);
    assert_eq!((anew["mode"].as_str(), anew["resumed_from"].as_i64()), (Some("full"), None), "{anew}");
    assert_eq!(count(&anew, "fetched"), 3000, "{anew}");
    assert_eq!(compare_mirror(&db, &sim, LINES, TABLE), Vec::<String>::new());
}

#[test]
fn a_copy_under_way_shows_its_progress_and_a_waiting_sync_says_how_far_it_is() {
    // About 19 s of Odoo's serving time: more than the 10 s between NOTICEs, for the sync()
    // that runs it and for one that waits for it.
    let sim = Sim::start_with(odoo_version(), 20, 2400, &["--cost-line-us", "8000"]);
    let db = Db::fresh("e2e_progress");
    db.connect_then(&sim, "UPDATE scrap_sga.model SET page_size = 200");
    assert_eq!(db.sql("SELECT count(*) FROM scrap_sga.progress"), "0");
    let sync_in_psql = || {
        let (host, port) = (db.host.clone(), db.port.clone());
        std::thread::spawn(move || {
            std::process::Command::new(pg_bin("psql"))
                .args(["-X", "-h", &host, "-p", &port, "-U", "postgres", "-d", "e2e_progress"])
                .args(["-c", &format!("SELECT model, status FROM scrap_sga.sync('{LINES}')")])
                .output()
                .unwrap()
        })
    };
    let psql = sync_in_psql();
    // Read from another session while it runs: the step, records done and expected.
    let mut seen = Value::Null;
    assert!(
        eventually(30, || {
            seen = db.json("SELECT to_jsonb(p) FROM scrap_sga.progress p");
            seen["done"].as_i64().is_some_and(|d| d >= 400)
        }),
        "{seen}"
    );
    assert_eq!((seen["model"].as_str(), seen["phase"].as_str(), seen["expected"].as_i64()), (Some(LINES), Some("full pass"), Some(2400)), "{seen}");
    assert!(seen["percent"].as_f64().is_some_and(|p| p > 0.0 && p < 100.0), "{seen}");
    assert!(seen["requests"].as_i64().is_some_and(|r| r >= 3), "current to the last page: {seen}");
    assert!(seen["records_per_second"].as_f64().is_some_and(|r| r > 0.0) && seen["eta"].is_string(), "{seen}");
    assert!(seen["pid"].as_i64().is_some(), "{seen}");
    // A second sync() of the model waits for the run under way, and says so.
    let waiting = sync_in_psql();
    let out = psql.join().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("succeeded"), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("NOTICE:  scrap_sga: {LINES}: full pass, ")) && stderr.contains(" of 2,400 records ("), "{stderr}");
    let out = waiting.join().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("succeeded"), "{stdout}{stderr}");
    let run = seen["run_id"].as_i64().unwrap_or_default();
    assert!(stderr.contains(&format!("NOTICE:  scrap_sga: waiting for run {run} (manual) of {LINES}: full pass, ")), "{stderr}");
    assert_eq!(db.sql("SELECT count(*) FROM scrap_sga.progress"), "0", "nothing once it ended");
}
