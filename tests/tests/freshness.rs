//! Issue 10: the window is anchored on Odoo's clock, so a burst of writes stops being listed
//! once `lookback` has passed; a commit later than `lookback` is repaired by the next reconcile
//! with no manual step; deletions reach the mirror on the next run; listeners hear of changes;
//! a computed field a DBA opted in is refreshed although its write_date does not move.
use scrap_sga_e2e::{compare_both_mirrors, compare_mirror, count, fingerprint_method, row_of, shift, started, Db, Sim};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};



#[test]
fn after_a_bulk_import_quiet_runs_send_two_fingerprints_whether_within_lookback_or_after() {
    let (sim, db) = started("e2e_bulk_import", 3000, 12000, 1);
    // A bulk import: every record written now.
    for (model, count) in [("dimagaz.bc", 3000), ("dimagaz.bc.line", 12000)] {
        sim.post("/sim/touch", json!({"model": model, "ids": (1..=count).collect::<Vec<i64>>()}));
    }
    // An import takes time: its write_date is its transaction's start, seconds before any run
    // sees it. (A run in the very second of a write lists its window once more at the next run:
    // a_record_rewritten_in_the_same_second_as_the_windows_newest_write_...)
    sim.advance_clock(5);
    let copied = db.sync();
    assert_eq!(count(row_of(&copied, "dimagaz.bc.line"), "updated"), 12000, "{copied}");
    // The next run reads again what a second write in the same second could hide (it would carry
    // the same write_date): only the records copied within the recheck's margin of their write,
    // once. Runs are an interval apart (here 15 s of Odoo's clock, not waited).
    let hazards = db.int(
        "SELECT count(*) FROM scrap_dimagaz_bc_line t, scrap_sga.model m WHERE m.model = 'dimagaz.bc.line'
           AND t.write_date >= m.recheck_from AND t.write_date + m.recheck_margin >= t.sga_synced_at",
    );
    sim.advance_clock(15);
    let recheck = db.sync();
    assert_eq!(count(row_of(&recheck, "dimagaz.bc.line"), "unchanged"), hazards, "{recheck}");
    assert_eq!(db.last_run("dimagaz.bc.line")["listed"], json!(0), "the window's fingerprint held: nothing listed");
    // Within lookback: the window's fingerprint and the model's, nothing listed, nothing read.
    for step in [15, 360, 15] {
        sim.advance_clock(step);
        sim.post("/sim/stats/reset", json!({}));
        let quiet = db.sync();
        for model in ["dimagaz.bc", "dimagaz.bc.line"] {
            let run = db.last_run(model);
            assert_eq!((count(&run, "listed"), count(&run, "fetched"), count(&run, "inserted") + count(&run, "updated")), (0, 0, 0), "{model}: {run}");
            assert_eq!(count(row_of(&quiet, model), "unchanged"), 0);
            assert_eq!(run["requests"], json!(2), "{model}: {run}");
        }
        let stats = sim.stats();
        assert_eq!(stats["requests"], json!({fingerprint_method(): 4}), "{stats}");
        // Four small answers, against about 540 KB to list the burst.
        assert!(stats["bytes_out"].as_u64().unwrap() < 1500, "{stats}");
    }
    // A change now: found, listed from the window, read.
    sim.post("/sim/write", json!({"model": "dimagaz.bc.line", "id": 77, "values": {"name": "after the burst"}}));
    let changed = db.sync();
    assert_eq!(count(row_of(&changed, "dimagaz.bc.line"), "updated"), 1, "{changed}");
    assert_eq!(compare_both_mirrors(&db, &sim), Vec::<String>::new());
}

#[test]
fn changes_within_lookback_after_a_burst_list_what_was_written_since_and_the_id_ranges_that_differ() {
    let (sim, db) = started("e2e_burst_ranges", 100, 24000, 1);
    let ids: Vec<i64> = (1..=24000).collect();
    sim.post("/sim/touch", json!({"model": "dimagaz.bc.line", "ids": ids}));
    sim.advance_clock(5);
    db.sync();
    let burst = db.cursor("dimagaz.bc.line");
    sim.advance_clock(15);
    db.sync();
    sim.advance_clock(15);
    // Within lookback of the burst: a deletion, a write, and a late commit, one that began a few
    // seconds after the burst and ended after the last run (older than what that run read).
    sim.post("/sim/delete", json!({"model": "dimagaz.bc.line", "id": 1234}));
    sim.post("/sim/write", json!({"model": "dimagaz.bc.line", "id": 20000, "values": {"name": "after the burst"}}));
    // (The late commit is in another id range than the deletion: the deletion check reconciles
    // the deletion's range, and would find it there.)
    sim.post("/sim/write", json!({"model": "dimagaz.bc.line", "id": 9000, "values": {"name": "late commit"}, "write_date": shift(&burst, 3)}));
    sim.post("/sim/stats/reset", json!({}));
    let r = db.sync();
    let lines = row_of(&r, "dimagaz.bc.line");
    assert_eq!((count(lines, "updated"), count(lines, "deleted")), (2, 1), "{r}");
    // The write since the last run, the deletion check's range (ids 1 to 3,000), and the range
    // where the window's fingerprint differs from the mirror's (ids 6,001 to 9,000, the late
    // commit, read by the window, not repaired by a reconcile): 6,000 pairs, where the whole
    // window is 24,000 (26,998 listed before).
    assert_eq!(count(&db.last_run("dimagaz.bc.line"), "repaired"), 0, "{}", db.last_run("dimagaz.bc.line"));
    let listed = count(&db.last_run("dimagaz.bc.line"), "listed");
    assert!((1..=8000).contains(&listed), "listed {listed}: {r}");
    assert_eq!(compare_both_mirrors(&db, &sim), Vec::<String>::new());
    // The window's fingerprint was taken in the second of the write: the next run lists again
    // what was written since the run before it (that write), and the one after is quiet.
    sim.advance_clock(15);
    let next = db.sync();
    assert_eq!(count(&db.last_run("dimagaz.bc.line"), "listed"), 1, "{next}");
    sim.advance_clock(15);
    sim.post("/sim/stats/reset", json!({}));
    db.sync();
    assert_eq!(sim.stats()["requests"], json!({fingerprint_method(): 4}), "{}", sim.stats());
}

#[test]
fn a_commit_later_than_lookback_is_missed_by_the_window_and_repaired_by_the_next_reconcile() {
    let (sim, db) = started("e2e_late_repair", 60, 120, 1);
    db.sql("UPDATE scrap_sga.model SET lookback = '20 seconds'");
    // A long Odoo transaction writes order 7 now, and commits a minute later.
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 7, "values": {"notes": "written in a long transaction"}, "commit": "later"}));
    sim.advance_clock(60);
    let before = db.sync();
    assert_eq!(count(row_of(&before, "dimagaz.bc"), "updated"), 0, "not visible yet: {before}");
    sim.post("/sim/commit", json!({"model": "dimagaz.bc", "id": 7}));
    sim.advance_clock(5);
    let missed = db.sync();
    assert_eq!(count(row_of(&missed, "dimagaz.bc"), "updated"), 0, "the window (20 s) misses it: {missed}");
    let diff = db.verify();
    assert_eq!((diff[0]["problem"].as_str(), diff[0]["odoo_id"].as_i64()), (Some("write_date differs"), Some(7)), "{diff}");

    // An hour on, reconcile is due: the scheduled run repairs it, nobody asked.
    db.sql("UPDATE scrap_sga.model SET reconciled_at = reconciled_at - interval '1 hour'");
    db.sync();
    let run = db.last_run("dimagaz.bc");
    assert_eq!((run["reconciled"].as_bool(), count(&run, "repaired"), count(&run, "updated")), (Some(true), 1, 1), "{run}");
    assert_eq!(db.sql("SELECT notes FROM scrap_dimagaz_bc WHERE id = 7"), "written in a long transaction");
    assert!(compare_mirror(&db, &sim, "dimagaz.bc", "scrap_dimagaz_bc").is_empty());
    assert_eq!(db.verify(), json!([]));
    assert_eq!(count(&db.last_run("dimagaz.bc.line"), "repaired"), 0);
}

#[test]
fn deletions_reach_the_mirror_on_the_next_run_even_when_a_creation_cancels_the_count() {
    let (sim, db) = started("e2e_deletions", 300, 900, 1);
    let lines_of_5 = sim.dump("dimagaz.bc.line").iter().filter(|l| l["order_id"][0] == json!(5)).count() as i64;
    sim.post("/sim/delete", json!({"model": "dimagaz.bc", "id": 5}));
    let r = db.sync();
    assert_eq!(count(row_of(&r, "dimagaz.bc"), "deleted"), 1, "{r}");
    assert_eq!(count(row_of(&r, "dimagaz.bc.line"), "deleted"), lines_of_5, "{r}");
    assert_eq!(db.last_run("dimagaz.bc")["reconciled"], json!(false), "the per-run check, not a reconcile");

    // One deleted, one created in the same interval: Odoo's count does not change.
    sim.post("/sim/delete", json!({"model": "dimagaz.bc", "id": 9}));
    let created = sim.post("/sim/create", json!({"model": "dimagaz.bc", "values": {"name": "BC/NEW"}}))["id"].as_i64().unwrap();
    let r = db.sync();
    assert_eq!((count(row_of(&r, "dimagaz.bc"), "inserted"), count(row_of(&r, "dimagaz.bc"), "deleted")), (1, 1), "{r}");
    assert_eq!(db.sql("SELECT sga_deleted_at IS NOT NULL FROM scrap_dimagaz_bc WHERE id = 9"), "t");
    assert_eq!(db.sql(&format!("SELECT name FROM scrap_dimagaz_bc WHERE id = {created}")), "BC/NEW");

    // A line alone, an archived order (not a deletion), and a quiet run after.
    sim.post("/sim/delete", json!({"model": "dimagaz.bc.line", "id": 40}));
    sim.post("/sim/archive", json!({"model": "dimagaz.bc", "id": 11, "active": false}));
    let r = db.sync();
    assert_eq!(count(row_of(&r, "dimagaz.bc.line"), "deleted"), 1, "{r}");
    assert_eq!(count(row_of(&r, "dimagaz.bc"), "deleted"), 0, "archived is not deleted: {r}");
    let problems = compare_both_mirrors(&db, &sim);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let quiet = db.sync();
    assert_eq!(count(row_of(&quiet, "dimagaz.bc"), "deleted") + count(row_of(&quiet, "dimagaz.bc.line"), "deleted"), 0);
    assert_eq!(db.last_run("dimagaz.bc.line")["requests"], json!(2), "a quiet run: two fingerprints");
    assert_eq!(db.verify(), json!([]));
}

#[test]
fn same_count_other_ids_a_deletion_and_a_creation_the_window_cannot_see_are_both_found() {
    let (sim, db) = started("e2e_same_count", 300, 0, 2);
    // Order 9 goes; a new order comes with a write_date an hour old (a transaction that committed
    // long after it began): the window does not list it, and Odoo's count is what the mirror has.
    sim.post("/sim/delete", json!({"model": "dimagaz.bc", "id": 9}));
    let created = sim.post("/sim/create", json!({"model": "dimagaz.bc", "values": {"name": "BC/LATE"}}))["id"].as_i64().unwrap();
    let an_hour_ago = scrap_sga_e2e::shift(&sim.now(), -3600);
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": created, "values": {}, "write_date": an_hour_ago}));
    assert_eq!(sim.dump("dimagaz.bc").len() as i64, db.int("SELECT count(*) FROM scrap_dimagaz_bc WHERE sga_deleted_at IS NULL"), "the same count");
    let r = db.sync();
    let run = db.last_run("dimagaz.bc");
    assert_eq!((count(row_of(&r, "dimagaz.bc"), "inserted"), count(row_of(&r, "dimagaz.bc"), "deleted")), (1, 1), "{r}");
    assert_eq!(run["reconciled"], json!(false), "the per-run check found both, not a reconcile: {run}");
    assert_eq!(db.sql("SELECT sga_deleted_at IS NOT NULL FROM scrap_dimagaz_bc WHERE id = 9"), "t");
    assert_eq!(db.sql(&format!("SELECT name FROM scrap_dimagaz_bc WHERE id = {created}")), "BC/LATE");
    assert_eq!(compare_mirror(&db, &sim, "dimagaz.bc", "scrap_dimagaz_bc"), Vec::<String>::new());
}

#[test]
fn a_record_rewritten_in_the_same_second_as_the_windows_newest_write_is_not_hidden_from_the_next_run() {
    let (sim, db) = started("e2e_same_second", 40, 0, 1);
    // Order 20 is in the window (written half a minute ago, lookback is 5 minutes).
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 20, "values": {"notes": "first"}}));
    sim.advance_clock(30);
    db.sync();
    // Order 10 is written now, and the run that copies it fingerprints the window in the same
    // second: count 2, ids 10 + 20, newest: this second.
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 10, "values": {"notes": "now"}}));
    db.sync();
    // Order 20 is written again within that same second: the window's count, id sum and newest
    // write_date stay what they were, so the fingerprint cannot tell; the next run must.
    let second = sim.dump("dimagaz.bc").iter().find(|r| r["id"] == json!(10)).unwrap()["write_date"].clone();
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 20, "values": {"notes": "second"}, "write_date": second}));
    let r = db.sync();
    assert_eq!(db.sql("SELECT notes FROM scrap_dimagaz_bc WHERE id = 20"), "second", "{r}");
    assert_eq!(compare_mirror(&db, &sim, "dimagaz.bc", "scrap_dimagaz_bc"), Vec::<String>::new());
    // Once the window's newest write is a few seconds old, its fingerprint is trusted again.
    sim.advance_clock(15);
    db.sync();
    sim.advance_clock(15);
    db.sync();
    assert_eq!((db.last_run("dimagaz.bc")["listed"].clone(), db.last_run("dimagaz.bc")["requests"].clone()), (json!(0), json!(2)));
}

#[test]
fn a_deletion_in_a_large_model_is_found_by_halving_not_by_listing_everything() {
    let (sim, db) = started("e2e_deletions_large", 10, 60000, 1);
    for id in [1234, 45678] {
        sim.post("/sim/delete", json!({"model": "dimagaz.bc.line", "id": id}));
    }
    sim.post("/sim/stats/reset", json!({}));
    let r = db.sync();
    assert_eq!(count(row_of(&r, "dimagaz.bc.line"), "deleted"), 2, "{r}");
    assert_eq!(db.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM scrap_dimagaz_bc_line WHERE sga_deleted_at IS NOT NULL"), "1234,45678");
    // Listing 60,000 pairs would take 3 pages of 20,000; halving lists only small ranges.
    let stats = sim.stats();
    let listed: u64 = db.int("SELECT listed FROM scrap_sga.sync_run ORDER BY run_id DESC LIMIT 1") as u64;
    assert!(stats["bytes_out"].as_u64().unwrap() < 60000 * 45 / 2, "{stats} (listed {listed})");
    assert!(compare_mirror(&db, &sim, "dimagaz.bc.line", "scrap_dimagaz_bc_line").is_empty());
}

/// A `psql` that has run `LISTEN scrap_sga` and waits; `received()` ends it and returns the
/// notifications it printed.
struct Listener {
    child: std::process::Child,
}

impl Listener {
    fn start(db: &Db) -> Listener {
        let mut child = Command::new(scrap_sga_e2e::pg_bin("psql"))
            .args(["-X", "-q", "-h", &db.host, "-p", &db.port, "-U", "postgres", "-d", &db.name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "LISTEN scrap_sga;\n\\echo listening").unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening");
        Listener { child }
    }

    fn received(mut self) -> Vec<Value> {
        // psql prints what arrived when it next runs a command.
        writeln!(self.child.stdin.as_mut().unwrap(), "SELECT 1 AS poll;\n\\q").unwrap();
        let out = self.child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("Asynchronous notification \"scrap_sga\" with payload \""))
            .map(|l| serde_json::from_str(l.rsplit_once("\" received from").unwrap().0).unwrap())
            .collect()
    }
}

#[test]
fn listeners_hear_of_a_run_that_changed_rows_and_not_of_a_quiet_one() {
    let (sim, db) = started("e2e_notify", 20, 40, 1);
    let quiet = Listener::start(&db);
    db.sync();
    assert_eq!(quiet.received(), Vec::<Value>::new(), "a quiet run sends nothing");

    let listener = Listener::start(&db);
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 3, "values": {"notes": "changed"}}));
    sim.post("/sim/delete", json!({"model": "dimagaz.bc.line", "id": 2}));
    let r = db.sync();
    let got = listener.received();
    assert_eq!(got.len(), 2, "one per model that changed: {got:?}");
    let order = got.iter().find(|g| g["model"] == "dimagaz.bc").unwrap();
    // Order 3, and the order of line 2 (a deleted line writes its order, as in Odoo).
    assert_eq!((&order["table"], &order["updated"], &order["inserted"]), (&json!("public.scrap_dimagaz_bc"), &json!(2), &json!(0)), "{order}");
    for k in ["run_id", "updated", "deleted"] {
        assert_eq!(order[k], row_of(&r, "dimagaz.bc")[k], "{k}");
    }
    let line = got.iter().find(|g| g["model"] == "dimagaz.bc.line").unwrap();
    assert_eq!(line["deleted"], json!(1), "{line}");

    // A run whose process died after committing pages (its row left running): the model's next
    // run records it failed, and listeners hear of what it had changed.
    let dead = db.int("INSERT INTO scrap_sga.sync_run (invocation, model, trigger, updated, backend_pid) VALUES (0, 'dimagaz.bc', 'worker', 4, 999999) RETURNING run_id");
    let listener = Listener::start(&db);
    db.sync();
    let got = listener.received();
    let heard = got.iter().find(|g| g["run_id"] == json!(dead)).unwrap_or_else(|| panic!("run {dead} not heard: {got:?}"));
    assert_eq!((&heard["status"], &heard["updated"]), (&json!("failed"), &json!(4)), "{heard}");
}

#[test]
fn a_computed_field_a_dba_opts_in_is_copied_and_refreshed_although_write_date_does_not_move() {
    let sim = Sim::start(30, 0);
    sim.post("/sim/field/add", json!({"model": "dimagaz.bc", "name": "x_score", "type": "integer", "store": false}));
    let db = Db::fresh("e2e_computed");
    db.connect_to(&sim);
    db.sync();
    assert_eq!(db.sql("SELECT status FROM scrap_sga.model_field WHERE model = 'dimagaz.bc' AND field = 'x_score'"), "skipped", "skipped by default");
    assert_eq!(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'scrap_dimagaz_bc' AND column_name = 'x_score'"), "0");

    db.sql("SELECT scrap_sga.copy_computed_field('dimagaz.bc', 'x_score')");
    db.sync();
    let want: Vec<(i64, i64)> = sim.dump("dimagaz.bc").iter().map(|r| (r["id"].as_i64().unwrap(), r["x_score"].as_i64().unwrap())).collect();
    let have = db.json("SELECT json_agg(json_build_array(id, x_score) ORDER BY id) FROM scrap_dimagaz_bc");
    assert_eq!(have, json!(want), "the opted-in column is filled for every record");

    // Its value changes in Odoo, write_date does not: the incremental pass cannot see it...
    let write_date = sim.dump("dimagaz.bc")[2]["write_date"].clone();
    sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": 3, "values": {"x_score": 999}, "silent": true}));
    assert_eq!(sim.dump("dimagaz.bc")[2]["write_date"], write_date);
    db.sync();
    assert_ne!(db.sql("SELECT x_score FROM scrap_dimagaz_bc WHERE id = 3"), "999", "computed_refresh (1 hour) is not due");
    // ...its refresh pass does, when due: only id and the computed fields are read.
    db.sql("UPDATE scrap_sga.model SET computed_refresh = '0' WHERE model = 'dimagaz.bc'");
    sim.post("/sim/stats/reset", json!({}));
    let r = db.sync();
    assert_eq!(db.sql("SELECT x_score FROM scrap_dimagaz_bc WHERE id = 3"), "999");
    let run = count(row_of(&r, "dimagaz.bc"), "run_id");
    assert_eq!(count(row_of(&r, "dimagaz.bc"), "updated"), 1, "only the row whose value changed: {r}");
    let audit = db.json(&format!("SELECT json_agg(json_build_array(odoo_id, old_values ? 'x_score', new_values->'x_score')) FROM scrap_sga.audit_log WHERE run_id = {run}"));
    assert_eq!(audit, json!([[3, true, 999]]), "the refresh is audited like any change");
    // Opting out stops copying it; the column and its data stay.
    db.sql("SELECT scrap_sga.copy_computed_field('dimagaz.bc', 'x_score', false)");
    db.sync();
    assert_eq!(db.sql("SELECT status FROM scrap_sga.model_field WHERE model = 'dimagaz.bc' AND field = 'x_score'"), "skipped");
    assert_eq!(db.sql("SELECT x_score FROM scrap_dimagaz_bc WHERE id = 3"), "999");
    let err = db.try_sql("SELECT scrap_sga.copy_computed_field('dimagaz.bc', 'name')").unwrap_err();
    assert!(err.stderr.contains("is stored by Odoo: it is copied already"), "{}", err.stderr);
}

#[test]
fn the_deletion_search_ends_when_most_records_wait_in_the_retry_queue() {
    let sim = Sim::start(6000, 0);
    let db = Db::fresh("e2e_deletions_queue");
    db.connect_to(&sim);
    // 4,000 of 6,000 orders cannot be stored (a text where an integer goes): they wait in the
    // retry queue, so the mirror's count is mostly records the table does not have.
    for id in 2001..=6000 {
        sim.post("/sim/write", json!({"model": "dimagaz.bc", "id": id, "values": {"priority": "urgent"}}));
    }
    let first = db.json("SELECT json_agg(s) FROM scrap_sga.sync('dimagaz.bc') s");
    assert_eq!((count(&first[0], "inserted"), count(&first[0], "failed")), (2000, 4000), "{first}");
    // Past lookback on Odoo's clock, and one run later, the window no longer lists the queued
    // records (it reads again what it lists and the mirror lacks): what follows is the search's.
    sim.advance_clock(400);
    db.sync();
    // A stored order and a queued one deleted in Odoo: the search ends, finds both.
    sim.post("/sim/delete", json!({"model": "dimagaz.bc", "id": 5}));
    sim.post("/sim/delete", json!({"model": "dimagaz.bc", "id": 3000}));
    let r = db.json("SELECT json_agg(s) FROM scrap_sga.sync('dimagaz.bc') s");
    assert_eq!(count(&r[0], "deleted"), 1, "{r}");
    assert_eq!(db.sql("SELECT sga_deleted_at IS NOT NULL FROM scrap_dimagaz_bc WHERE id = 5"), "t");
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.failed_record WHERE odoo_id = 3000"), 0, "a deleted record leaves the queue");
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.failed_record"), 3999);
    // Queued records are read when their retry is due, not by the search.
    assert_eq!(count(&r[0], "failed"), 0, "{r}");
    let quiet = db.json("SELECT json_agg(s) FROM scrap_sga.sync('dimagaz.bc') s");
    assert_eq!(count(&quiet[0], "deleted") + count(&quiet[0], "failed"), 0, "{quiet}");
}
