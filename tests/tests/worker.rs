//! Issue 5: the background worker, in clusters of their own with scrap_sga preloaded.
use scrap_sga_e2e::{eventually, Cluster, Sim};
use serde_json::json;
use std::time::{Duration, Instant};

fn worker_cluster(name: &str, interval: u32, sim: &Sim) -> (Cluster, scrap_sga_e2e::Db) {
    let cluster = Cluster::start(name, &[&format!("scrap_sga.interval = {interval}"), "scrap_sga.database = 'postgres'"]);
    let db = cluster.db("postgres");
    db.sql("CREATE EXTENSION scrap_sga");
    db.connect_to(sim);
    (cluster, db)
}

#[test]
fn rows_appear_and_follow_odoo_with_no_sql_call() {
    let sim = Sim::start(200, 600);
    let (cluster, db) = worker_cluster("follow", 1, &sim);
    assert!(eventually(30, || db.try_sql("SELECT count(*) FROM scrap_dimagaz_bc_line").ok().as_deref() == Some("600")), "the worker copied the data");
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc"), 200);
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 42, "values": {"notes": "seen by the worker"}}));
    assert!(eventually(15, || db.sql("SELECT coalesce(notes, '') FROM scrap_dimagaz_bc WHERE id = 42") == "seen by the worker"));
    assert_eq!(db.sql("SELECT string_agg(DISTINCT trigger, ',') FROM scrap_sga.sync_run"), "worker");
    let status = db.json("SELECT json_agg(s) FROM scrap_sga.status s");
    assert!(["idle", "running"].contains(&status[0]["worker"].as_str().unwrap()), "{status}");
    // Django reads it as scrap_sga_reader, to whom pg_stat_activity hides the scheduler's kind:
    // it sees the same (it used to see "not running").
    db.sql("CREATE ROLE e2e_django LOGIN; GRANT scrap_sga_reader TO e2e_django");
    let seen = db.try_sql_as("e2e_django", "SELECT string_agg(DISTINCT worker, ',') FROM scrap_sga.status").unwrap();
    assert!(["idle", "running"].contains(&seen.as_str()), "{seen}");
    assert_eq!(db.verify(), json!([]));
    // Its log lines: one per run that changed something, none for quiet runs.
    let log = cluster.log();
    let lines = log.lines().filter(|l| l.contains("scrap_sga: synced")).count();
    let runs = db.int("SELECT count(*) FROM scrap_sga.sync_run");
    let changed = db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE inserted + updated + deleted + restored > 0 OR schema_changes <> '{}'");
    assert_eq!(lines as i64, changed, "log lines for {runs} runs:\n{log}");
    assert!(runs > changed, "quiet runs leave no log line");
}

#[test]
fn a_reload_changes_the_interval_and_pause_stops_the_runs() {
    let sim = Sim::start(10, 10);
    let (_cluster, db) = worker_cluster("interval", 1, &sim);
    assert!(eventually(30, || db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'succeeded'") >= 4));
    db.sql("ALTER SYSTEM SET scrap_sga.interval = 3");
    db.sql("SELECT pg_reload_conf()");
    assert!(eventually(10, || db.sql("SELECT interval_s FROM scrap_sga.worker_state") == "3"));
    let from = db.int("SELECT max(invocation) FROM scrap_sga.sync_run");
    std::thread::sleep(Duration::from_secs(10));
    let gaps = db.sql(&format!(
        "SELECT string_agg(round(extract(epoch FROM g))::text, ',') FROM (
            SELECT min(started_at) - lag(min(started_at)) OVER (ORDER BY invocation) AS g
            FROM scrap_sga.sync_run WHERE invocation > {from} GROUP BY invocation) x WHERE g IS NOT NULL"
    ));
    assert!(!gaps.is_empty() && gaps.split(',').all(|g| g == "3"), "runs every 3 s after the reload: {gaps}");
    // Paused: no more runs.
    db.sql("ALTER SYSTEM SET scrap_sga.enabled = off");
    db.sql("SELECT pg_reload_conf()");
    assert!(eventually(10, || db.sql("SELECT state FROM scrap_sga.worker_state") == "paused"));
    let runs = db.int("SELECT count(*) FROM scrap_sga.sync_run");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.sync_run"), runs);
    assert!(db.sql("SELECT worker FROM scrap_sga.status LIMIT 1").starts_with("paused"));
}

#[test]
fn a_terminated_worker_comes_back_and_converges() {
    let sim = Sim::start(50, 100);
    let (_cluster, db) = worker_cluster("terminate", 1, &sim);
    assert!(eventually(30, || db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'succeeded'") >= 2));
    let pid = db.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'");
    assert!(!pid.is_empty());
    db.sql(&format!("SELECT pg_terminate_backend({pid})"));
    sim.post("/sim/write", json!({"model": "dimagaz.bc.line", "id": 7, "values": {"product_qty": 3.5}}));
    assert!(eventually(20, || {
        let now = db.sql("SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'");
        !now.is_empty() && now != pid
    }), "the postmaster restarted the worker");
    assert!(eventually(20, || db.sql("SELECT product_qty FROM scrap_dimagaz_bc_line WHERE id = 7") == "3.5"));
    assert_eq!(db.verify(), json!([]));
}

#[test]
fn fast_shutdown_does_not_wait_for_a_slow_odoo_and_the_restart_converges() {
    let sim = Sim::start(300, 0);
    let (cluster, db) = worker_cluster("shutdown", 1, &sim);
    db.sql("UPDATE scrap_sga.model SET page_size = 50");
    assert!(eventually(30, || db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'succeeded' AND model = 'dimagaz.bc'") >= 1));
    // Odoo now holds every answer for two minutes; a change is waiting to be copied.
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 9, "values": {"notes": "after the restart"}}));
    sim.post("/sim/fault", json!({"kind": "delay", "delay_ms": 120000, "count": -1}));
    assert!(eventually(15, || db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'running'") > 0), "a run is waiting on Odoo");
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    cluster.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    let took = t0.elapsed();
    eprintln!("pg_ctl stop -m fast while the worker waited on Odoo: {took:?}");
    assert!(took < Duration::from_secs(5), "the cluster took {took:?} to stop");
    sim.post("/sim/faults/clear", json!({}));
    cluster.pg_ctl(&["start", "-w", "-t", "60"]);
    assert!(eventually(30, || db.try_sql("SELECT coalesce(notes, '') FROM scrap_dimagaz_bc WHERE id = 9").ok().as_deref() == Some("after the restart")));
    assert_eq!(db.verify(), json!([]));
    let stopped = db.json("SELECT to_jsonb(r) FROM scrap_sga.sync_run r WHERE status = 'failed' ORDER BY run_id LIMIT 1");
    assert_eq!(stopped["sqlstate"], json!("57P01"), "the interrupted run is logged as failed: {stopped}");
}

#[test]
fn odoo_down_for_several_intervals_backs_off_then_recovers_by_itself() {
    let sim = Sim::start(20, 20);
    let (_cluster, db) = worker_cluster("backoff", 1, &sim);
    assert!(eventually(30, || db.int("SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'succeeded'") >= 2));
    let from = db.int("SELECT max(run_id) FROM scrap_sga.sync_run");
    sim.post("/sim/fault", json!({"kind": "drop", "count": -1}));
    assert!(eventually(40, || db.int(&format!("SELECT count(*) FROM scrap_sga.sync_run WHERE run_id > {from} AND model = 'dimagaz.bc' AND status = 'failed'")) >= 4));
    let gaps: Vec<f64> = db
        .sql(&format!(
            "SELECT string_agg(round(extract(epoch FROM g)::numeric, 1)::text, ',') FROM (
                SELECT started_at - lag(started_at) OVER (ORDER BY run_id) AS g FROM scrap_sga.sync_run
                WHERE run_id > {from} AND model = 'dimagaz.bc' AND status = 'failed') x WHERE g IS NOT NULL"
        ))
        .split(',')
        .map(|g| g.parse().unwrap())
        .collect();
    eprintln!("gaps between failed runs while Odoo was down: {gaps:?} s");
    assert!(gaps.windows(2).all(|w| w[1] > w[0] * 1.5), "the back-off grows: {gaps:?}");
    assert!(db.int("SELECT consecutive_failures FROM scrap_sga.worker_state") >= 3);
    sim.post("/sim/faults/clear", json!({}));
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 3, "values": {"notes": "back"}}));
    assert!(eventually(40, || db.sql("SELECT coalesce(notes, '') FROM scrap_dimagaz_bc WHERE id = 3") == "back"), "recovers on its own");
    assert!(eventually(10, || db.sql("SELECT consecutive_failures FROM scrap_sga.worker_state") == "0"));
    assert_eq!(db.verify(), json!([]));
}

/// The grants the README gives for a dedicated job role.
const JOB_ROLE_GRANTS: &str = "CREATE ROLE scrap_sync LOGIN;
    GRANT USAGE ON SCHEMA scrap_sga TO scrap_sync;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA scrap_sga TO scrap_sync;
    GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA scrap_sga TO scrap_sync;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA scrap_sga TO scrap_sync;
    GRANT CREATE ON SCHEMA public TO scrap_sync;";

#[test]
fn every_job_runs_as_the_worker_role_and_never_silently_as_a_superuser() {
    let sim = Sim::start(30, 60);
    let cluster = Cluster::start("role", &["scrap_sga.database = 'postgres'", "scrap_sga.enabled = off", "scrap_sga.interval = 1"]);
    let db = cluster.db("postgres");
    db.sql("CREATE EXTENSION scrap_sga");
    db.connect_to(&sim);
    let set_role = |role: &str| {
        db.sql(&format!("ALTER SYSTEM SET scrap_sga.worker_role = '{role}'"));
        db.sql("SELECT pg_reload_conf()");
    };
    // A role that does not exist, or that cannot log in: a clear error, and nothing runs.
    set_role("scrap_nobody");
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("scrap_sga.worker_role names the role \"scrap_nobody\", which does not exist"), "{}", err.stderr);
    db.sql("CREATE ROLE scrap_nologin NOLOGIN");
    set_role("scrap_nologin");
    let err = db.try_sql("SELECT * FROM scrap_sga.sync()").unwrap_err();
    assert!(err.stderr.contains("cannot log in, and a background worker connects as it"), "{}", err.stderr);
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.sync_run"), 0);

    // A role with only what the README lists: sync() works, and the tables it creates are its own.
    db.sql(JOB_ROLE_GRANTS);
    set_role("scrap_sync");
    db.sync();
    assert_eq!(db.int("SELECT count(*) FROM scrap_dimagaz_bc_line"), 60);
    assert_eq!(db.sql("SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE tablename LIKE 'scrap_dimagaz%'"), "scrap_sync");
    assert_eq!(db.sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'scrap_sync'"), "f");

    // The scheduler restarts as that role, and syncs as it.
    db.sql("ALTER SYSTEM SET scrap_sga.enabled = on");
    db.sql("SELECT pg_reload_conf()");
    assert!(
        eventually(30, || db.sql("SELECT usename FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'") == "scrap_sync"),
        "the scheduler connects as scrap_sync: {}",
        db.sql("SELECT string_agg(backend_type || '=' || coalesce(usename::text, '?'), ' ') FROM pg_stat_activity")
    );
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 4, "values": {"notes": "by the scheduler"}}));
    assert!(eventually(30, || db.sql("SELECT coalesce(notes, '') FROM scrap_dimagaz_bc WHERE id = 4") == "by the scheduler"));
    assert_eq!(db.sql("SELECT trigger FROM scrap_sga.sync_run WHERE run_id = (SELECT sga_run_id FROM scrap_dimagaz_bc WHERE id = 4)"), "worker");
}
