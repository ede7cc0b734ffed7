//! Issue 12: a full pass on several streams when Odoo has several workers. The simulator plays
//! an Odoo with 4 HTTP workers whose serving time is wall time, so that streams overlap here.
use scrap_sga_e2e::{compare_both_mirrors, compare_mirror, count, eventually, odoo_version, row_of, Cluster, Db, Sim};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FOUR_WORKERS: &[&str] = &["--workers", "4", "--cost-order-us", "500", "--cost-line-us", "200"];

fn post(agent: &ureq::Agent, url: &str, path: &str, body: Value) -> Value {
    let mut resp = agent.post(format!("{url}{path}")).send_json(&body).unwrap_or_else(|e| panic!("POST {path}: {e}"));
    resp.body_mut().read_json().unwrap()
}

#[test]
fn a_parallel_full_sync_equals_odoo_although_odoo_changes_during_it() {
    let sim = Sim::start_with(odoo_version(), 3000, 15000, FOUR_WORKERS);
    let db = Db::fresh("e2e_parallel");
    db.connect_to(&sim);
    db.sql("UPDATE scrap_sga.model SET parallel = 4, page_size = 500");
    // Odoo is written to for as long as the first copy runs: changed orders, new orders (ids past
    // every range but the last), deleted lines.
    let (stop, url) = (Arc::new(AtomicBool::new(false)), sim.url.clone());
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let agent = ureq::Agent::new_with_defaults();
            let mut changes = 0u64;
            let mut k = 0i64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                post(&agent, &url, "/sim/write", json!({"model": "dimagaz.bc", "id": 1 + (k * 37) % 3000, "values": {"notes": format!("during the copy {k}")}}));
                post(&agent, &url, "/sim/create", json!({"model": "dimagaz.bc", "values": {"name": format!("NEW/{k}")}}));
                post(&agent, &url, "/sim/delete", json!({"model": "dimagaz.bc.line", "id": 1 + (k * 101) % 15000}));
                changes += 3;
                std::thread::sleep(Duration::from_millis(20));
            }
            changes
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let first = db.sync();
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().unwrap();
    eprintln!("parallel full sync of 3,000 + 15,000 records while Odoo changed ({changes} changes): {took:?}");
    assert!(changes >= 30, "Odoo changed during the copy ({changes})");
    for model in ["dimagaz.bc", "dimagaz.bc.line"] {
        let run = db.last_run(model);
        assert_eq!((run["status"].as_str(), run["mode"].as_str()), (Some("succeeded"), Some("full")), "{run}");
    }
    // Every order that was there when the copy began was copied once (the primary key refuses a
    // second), whatever stream or range it fell in.
    assert!(count(row_of(&first, "dimagaz.bc"), "inserted") >= 3000, "{first}");
    assert!(sim.stats()["most_at_once"].as_u64().unwrap() >= 3, "the streams overlapped: {}", sim.stats());
    // What changed during the copy is the next run's work, and only that.
    let next = db.sync();
    let read_again: i64 = ["dimagaz.bc", "dimagaz.bc.line"].iter().map(|m| count(row_of(&next, m), "fetched")).sum();
    assert!(read_again as u64 <= 2 * changes, "the next run reads what changed ({read_again} read, {changes} changes): {next}");
    assert_eq!(compare_both_mirrors(&db, &sim), Vec::<String>::new());
    assert_eq!(db.verify(), json!([]));
}

#[test]
fn a_failed_page_in_one_stream_fails_the_run_stops_every_stream_and_the_next_run_converges() {
    let sim = Sim::start_with(odoo_version(), 2000, 8000, FOUR_WORKERS);
    let db = Db::fresh("e2e_parallel_fault");
    db.connect_to(&sim);
    db.sql("UPDATE scrap_sga.model SET parallel = 4, page_size = 100");
    // The 11th page of the orders fails, while other streams are at work.
    sim.post("/sim/fault", json!({"kind": "http500", "method": "search_read", "after": 10, "count": -1}));
    let err = db.try_sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')").expect_err("the fault fails the run");
    assert!(err.stderr.contains("dimagaz.bc: search_read, page") && err.stderr.contains("answered HTTP 500"), "{}", err.stderr);
    let run = db.last_run("dimagaz.bc");
    assert_eq!((run["status"].as_str(), run["sqlstate"].as_str()), (Some("failed"), Some("08P01")), "{run}");
    assert_eq!(db.sql("SELECT cursor IS NULL FROM scrap_sga.model WHERE model = 'dimagaz.bc'"), "t", "the cursor did not move: the next run copies in full");
    // No stream goes on asking once the run has failed.
    let after_failure = sim.model_requests();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sim.model_requests(), after_failure, "a stream outlived its run");
    sim.post("/sim/faults/clear", json!({}));
    let next = db.sync();
    assert_eq!(db.last_run("dimagaz.bc")["mode"], json!("full"), "{next}");
    assert_eq!(compare_both_mirrors(&db, &sim), Vec::<String>::new());
    // Reconcile lists on the streams too, and finds the mirror equal.
    let r = db.json("SELECT json_agg(s) FROM scrap_sga.reconcile() s");
    for model in ["dimagaz.bc", "dimagaz.bc.line"] {
        let row = row_of(&r, model);
        let written: i64 = ["inserted", "updated", "deleted", "restored"].iter().map(|k| count(row, k)).sum();
        assert_eq!((written, db.last_run(model)["status"].as_str()), (0, Some("succeeded")), "{r}");
    }
}

#[test]
fn fast_shutdown_stops_a_parallel_run_at_once_and_the_restart_converges() {
    let sim = Sim::start_with(odoo_version(), 2000, 0, FOUR_WORKERS);
    let cluster = Cluster::start("parallel_shutdown", &["scrap_sga.interval = 1", "scrap_sga.database = 'postgres'"]);
    let db = cluster.db("postgres");
    db.sql("CREATE EXTENSION scrap_sga");
    // A few pages come back, then Odoo holds every answer for 15 s, on every stream (and keeps
    // its workers busy that long: the restart waits for them, as it would for a real Odoo).
    sim.post("/sim/fault", json!({"kind": "delay", "delay_ms": 15000, "method": "search_read", "after": 6, "count": -1}));
    db.connect_then(&sim, "UPDATE scrap_sga.model SET parallel = 4, page_size = 50");
    let copied = || db.try_sql("SELECT count(*) FROM scrap_dimagaz_bc").ok().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
    assert!(eventually(30, || copied() > 0), "the worker's first copy began");
    assert!(eventually(15, || sim.stats()["most_at_once"].as_u64().unwrap() >= 3), "the streams wait on Odoo together");
    let t0 = Instant::now();
    cluster.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    let took = t0.elapsed();
    eprintln!("pg_ctl stop -m fast while 4 streams waited on Odoo: {took:?}");
    assert!(took < Duration::from_secs(3), "the cluster took {took:?} to stop");
    sim.post("/sim/faults/clear", json!({}));
    cluster.pg_ctl(&["start", "-w", "-t", "60"]);
    assert!(eventually(60, || db.try_sql("SELECT count(*) FROM scrap_dimagaz_bc").ok().as_deref() == Some("2000")), "the restart copies the rest");
    assert_eq!(compare_mirror(&db, &sim, "dimagaz.bc", "scrap_dimagaz_bc"), Vec::<String>::new());
    let stopped = db.json("SELECT to_jsonb(r) FROM scrap_sga.sync_run r WHERE status = 'failed' ORDER BY run_id LIMIT 1");
    assert_eq!(stopped["sqlstate"], json!("57P01"), "the interrupted run is logged as failed: {stopped}");
}
