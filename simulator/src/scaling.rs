//! Tests of what a request costs as the model grows: the indexes answer exactly what a scan of
//! the model would, through every change the control API makes; and a page, a count, a
//! fingerprint, a listing or a read looks at as many records (`records_visited`, never seconds)
//! in a model of 2,000,000 records as in one of 50,000.
use serde_json::{json, Map, Value};
use std::cell::Cell;

use crate::data::{fmt_datetime, now_us, Sums, LINE, ORDER};
use crate::domain::{parse, Query};
use crate::server::tests::{app, control, jsonrpc, stats};
use crate::server::App;
use crate::state::Sim;

/// What a scan finds: the records `domain` selects, archived ones hidden as Odoo hides them.
fn scanned(sim: &Sim, model: &str, domain: &Value, kwargs: &Map<String, Value>) -> Vec<(i64, i64)> {
    let m = sim.store.model(model).unwrap();
    let dom = parse(domain).unwrap();
    let mut used = Vec::new();
    dom.fields(&mut used);
    let active_test = kwargs.get("context").and_then(|c| c["active_test"].as_bool()).unwrap_or(true);
    let hide = m.has_active() && active_test && !used.iter().any(|f| f == "active");
    let rows = m.records().iter().filter(|(id, r)| (!hide || r.active) && dom.matches(&sim.store, m, **id, r, sim.whole_second_datetimes()));
    rows.map(|(id, r)| (*id, r.write_us)).collect()
}

fn check_against_a_scan(app: &App, model: &str, domain: &Value, kwargs: &Map<String, Value>) {
    let sim = app.sim.lock().unwrap();
    let m = sim.store.model(model).unwrap();
    let visited = Cell::new(0);
    let Ok(q) = Query::new(&sim.store, m, sim.whole_second_datetimes(), domain, kwargs, &visited) else {
        assert!(!m.has_active(), "only `active` is missing from a model: {domain}");
        return;
    };
    let expected = scanned(&sim, model, domain, kwargs);
    let what = format!("{model} {domain} {kwargs:?}");
    let ids = |rows: &mut dyn Iterator<Item = (i64, &crate::data::Rec)>, k: usize| rows.take(k).map(|(id, _)| id).collect::<Vec<_>>();
    let asc: Vec<i64> = expected.iter().map(|(id, _)| *id).collect();
    let desc: Vec<i64> = asc.iter().rev().copied().collect();
    assert_eq!(ids(&mut q.rows(false, None), usize::MAX), asc, "{what}");
    assert_eq!(ids(&mut q.rows(true, None), usize::MAX), desc, "{what}, highest first");
    for k in [1, 3, 70] {
        assert_eq!(ids(&mut q.rows(false, Some(k)), k), asc[..k.min(asc.len())], "{what}, the first {k}");
        assert_eq!(ids(&mut q.rows(true, Some(k)), k), desc[..k.min(desc.len())], "{what}, the last {k}");
    }
    assert_eq!(q.count(), expected.len() as u64, "{what}, counted");
    if let Some(sums) = q.sums() {
        let mut want = Sums::default();
        for (id, w) in &expected {
            want.add(*id, *w);
        }
        assert_eq!(sums, want, "{what}, summed");
    }
}

#[test]
fn the_indexes_answer_as_a_scan_would() {
    for version in [18, 19] {
        let a = app(version, "default", 300, 1000);
        let line = |id: i64| fmt_datetime(a.sim.lock().unwrap().store.model(LINE).unwrap().records()[&id].write_us);
        let (first_batch, later_batch) = (line(1), line(700));
        control(&a, "/sim/clock", json!({"advance_s": 10}));
        // Newest of their blocks, moved into the past; a block's ends; a plain write of many.
        control(&a, "/sim/touch", json!({"model": LINE, "ids": [5, 63, 64, 127, 128, 500], "write_date": "2025-06-01 00:00:00"}));
        control(&a, "/sim/touch", json!({"model": LINE, "ids": (1..=40).collect::<Vec<i64>>()}));
        control(&a, "/sim/write", json!({"model": ORDER, "id": 7, "values": {"state": "done"}, "commit": "later"}));
        control(&a, "/sim/write", json!({"model": ORDER, "id": 9, "values": {"state": "done"}, "commit": "later", "write_date": "2024-01-01 00:00:00"}));
        control(&a, "/sim/commit", json!({"model": ORDER, "id": 9}));
        control(&a, "/sim/write", json!({"model": ORDER, "id": 8, "values": {"active": false}, "silent": true}));
        for id in [3, 64, 65] {
            control(&a, "/sim/archive", json!({"model": ORDER, "id": id, "active": false}));
        }
        control(&a, "/sim/archive", json!({"model": ORDER, "id": 3, "active": true}));
        control(&a, "/sim/delete", json!({"model": ORDER, "id": 10}));
        control(&a, "/sim/delete", json!({"model": LINE, "id": 999}));
        control(&a, "/sim/restore", json!({"model": LINE, "id": 999}));
        // Past the ids the index was built for.
        for _ in 0..200 {
            control(&a, "/sim/create", json!({"model": LINE, "values": {"order_id": 2}}));
        }
        control(&a, "/sim/poison", json!({"model": ORDER, "ids": [11], "kind": "error"}));
        control(&a, "/sim/heavy", json!({"model": ORDER, "field": "signature", "ids": [12], "bytes": 10}));
        let now = fmt_datetime(now_us() - 3_000_000);
        let times = [first_batch.as_str(), later_batch.as_str(), "2025-06-01 00:00:00", "2024-01-01 00:00:00", "2026-01-02", now.as_str(), "garbage"];
        let mut domains = vec![
            json!([]),
            json!([["id", ">", 0]]),
            json!([["id", ">", 5], ["id", "<=", 1100]]),
            json!([["id", ">=", 63], ["id", "<", 129]]),
            json!([["id", ">", 64], ["id", "<=", 64]]),
            json!([["id", "=", 999]]),
            json!([["id", "!=", 999]]),
            json!([["id", "in", [3, 7, 1100, 5000]]]),
            json!([["id", "in", []]]),
            json!([["id", "in", [2.0, 4]]]),
            json!([["id", ">", 2.5]]),
            json!([["id", ">", "5"]]),
            json!(["!", ["id", ">", 10]]),
            json!(["|", ["id", "<", 5], ["id", ">", 1150]]),
            json!([["active", "=", false]]),
            json!([["id", ">", 0], ["active", "in", [true, false]]]),
        ];
        for t in times {
            for op in ["=", "!=", ">", ">=", "<", "<="] {
                domains.push(json!([["write_date", op, t]]));
                domains.push(json!([["write_date", op, t], ["id", ">", 60], ["id", "<=", 700]]));
            }
            domains.push(json!([["write_date", ">=", t], ["write_date", "<", now]]));
            domains.push(json!(["|", ["write_date", ">=", t], ["id", "=", 2]]));
            domains.push(json!([["write_date", "in", [t]]]));
        }
        for model in [ORDER, LINE] {
            for d in &domains {
                for context in [json!({}), json!({"context": {"active_test": false}})] {
                    check_against_a_scan(&a, model, d, context.as_object().unwrap());
                }
            }
        }
    }
}

/// The records one request looked at.
fn visited(app: &App, model: &str, method: &str, args: Value, kwargs: Value) -> (u64, Value) {
    control(app, "/sim/stats/reset", json!({}));
    let answer = jsonrpc(app, model, method, args, kwargs);
    assert!(answer["error"].is_null(), "{model}.{method}: {answer}");
    let s = stats(app);
    assert_eq!(s["records_visited"], s["most_records_visited"], "one request");
    (s["records_visited"].as_u64().unwrap(), answer["result"].clone())
}

#[test]
fn a_request_looks_at_what_it_answers_whatever_the_model_holds() {
    let all = json!({"active_test": false});
    let window = "2030-01-01 00:00:00";
    // The lines written in the window; a window's records are walked beside as many ids of the
    // range (whichever ends first serves), then filtered.
    const W: u64 = 3000;
    // (what, method, args, kwargs, at most this many records looked at)
    let requests = [
        ("a page after an id", "search_read", json!([[["id", ">", 20_000], ["id", "<=", 1_000_000]], ["write_date", "product_qty"]]), json!({"order": "id asc", "limit": 2000, "context": all}), 2000u64),
        ("the lowest id of a range", "search", json!([[["id", ">", 20_000], ["id", "<=", 1_000_000]]]), json!({"order": "id asc", "limit": 1, "context": all}), 1),
        ("the highest id of a range", "search", json!([[["id", ">", 20_000], ["id", "<=", 1_000_000]]]), json!({"order": "id desc", "limit": 1, "context": all}), 1),
        ("a read by ids", "read", json!([(40_001..=40_100).collect::<Vec<i64>>(), ["write_date", "product_qty"]]), json!({}), 100),
        ("a count of the model", "search_count", json!([[]]), json!({"context": all}), 0),
        ("a count of an id range", "search_count", json!([[["id", ">", 10_000], ["id", "<=", 20_000]]]), json!({"context": all}), 128),
        ("a count of a write_date window", "search_count", json!([[["write_date", ">=", window]]]), json!({"context": all}), 3 * W + 1),
        ("a fingerprint of the model", "read_group", json!([[], ["id:sum", "write_date:max"], []]), json!({"lazy": false, "context": all}), 0),
        ("a fingerprint of an id range", "read_group", json!([[["id", ">", 10_000], ["id", "<=", 20_000]], ["id:sum"], []]), json!({"lazy": false, "context": all}), 128),
        (
            "a fingerprint of a write_date window",
            "formatted_read_group",
            json!([[["write_date", ">=", window], ["write_date", "<", "2030-01-02 00:00:00"]]]),
            json!({"groupby": [], "aggregates": ["__count", "id:sum", "write_date:max"], "context": all}),
            3 * W + 1,
        ),
        (
            "a fingerprint of a window's id range",
            "read_group",
            json!([[["write_date", ">=", window], ["write_date", "<", "2030-01-02 00:00:00"], ["id", ">", 30_500], ["id", "<=", 31_000]], ["id:sum", "write_date:max"], []]),
            json!({"lazy": false, "context": all}),
            3 * 500,
        ),
        ("a listing of a window", "search_read", json!([[["write_date", ">=", window], ["id", ">", 0]], ["write_date"]]), json!({"order": "id asc", "limit": 2000, "context": all}), 2 * W + 1 + 2000),
        ("a page of a window after an id", "search_read", json!([[["write_date", ">=", window], ["id", ">", 31_000]], ["write_date"]]), json!({"order": "id asc", "limit": 1000, "context": all}), 2000),
        ("a window's page past its records", "search_read", json!([[["write_date", ">=", window], ["id", ">", 40_000]], ["write_date"]]), json!({"order": "id asc", "limit": 1000, "context": all}), 2 * W + 1),
    ];
    let mut seen: Vec<Vec<(u64, Value)>> = Vec::new();
    for lines in [50_000, 2_000_000] {
        let a = app(19, "default", 1000, lines);
        // 3,000 lines written in one second of 2030: the window.
        control(&a, "/sim/touch", json!({"model": LINE, "ids": (30_001..=30_000 + W as i64).collect::<Vec<i64>>(), "write_date": window}));
        let each: Vec<(u64, Value)> = requests.iter().map(|(_, method, args, kwargs, _)| visited(&a, LINE, method, args.clone(), kwargs.clone())).collect();
        // The counters add up over requests.
        control(&a, "/sim/stats/reset", json!({}));
        for (_, method, args, kwargs, _) in &requests {
            jsonrpc(&a, LINE, method, args.clone(), kwargs.clone());
        }
        let s = stats(&a);
        let counts = each.iter().map(|(n, _)| *n);
        assert_eq!((s["records_visited"].as_u64(), s["most_records_visited"].as_u64()), (Some(counts.clone().sum()), counts.max()));
        seen.push(each);
    }
    for (i, (what, _, _, _, most)) in requests.iter().enumerate() {
        let ((small, small_answer), (big, big_answer)) = (&seen[0][i], &seen[1][i]);
        assert!(small <= most, "{what}: {small} records looked at, at most {most} expected");
        assert_eq!(small, big, "{what}: as many records looked at in 2,000,000 as in 50,000");
        if !what.starts_with("a count of the model") && !what.starts_with("a fingerprint of the model") && !what.starts_with("the highest") {
            assert_eq!(small_answer, big_answer, "{what}: the same answer");
        }
    }
    assert_eq!(seen[1][0].1.as_array().unwrap().len(), 2000);
    assert_eq!(seen[1][11].1.as_array().unwrap().len(), 2000);
    assert_eq!(seen[1][9].1[0]["__count"], W);
    assert_eq!(seen[1][7].1[0]["__count"], 2_000_000);
}
