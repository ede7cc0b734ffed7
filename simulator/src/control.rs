//! `/sim/*`: what tests use to change Odoo under the extension's feet.
//!
//! | call | body |
//! |---|---|
//! | POST /sim/reset | `{seed, orders, lines}` |
//! | POST /sim/write | `{model, id, values, write_date?, commit?, silent?}`: set values; write_date moves to now (or to the given second). `commit: "later"`: the write is made now but stays invisible until `/sim/commit`, as in a long Odoo transaction. `silent: true`: write_date does not move (a computed field whose value changed) |
//! | POST /sim/commit | `{model, id}`: the pending write of the record becomes visible, with its original write_date |
//! | POST /sim/clock | `{advance_s}`: Odoo's clock jumps ahead (write dates, the Date header) |
//! | POST /sim/touch | `{model, ids, write_date?}`: new generated values and a new write_date (now, or all the same given second: one batch `write`) |
//! | POST /sim/create | `{model, values?}` → `{id}` |
//! | POST /sim/archive | `{model, id, active}` |
//! | POST /sim/delete | `{model, id}`: deleting an order deletes its lines, as `ondelete=cascade` does |
//! | POST /sim/restore | `{model, id}`: a deleted record comes back with its id (restored from a backup, say) |
//! | POST /sim/field/add | `{model, name, type, relation?, store?}` |
//! | POST /sim/field/remove | `{model, name}` |
//! | POST /sim/fault | a [`Fault`](crate::state::Fault); POST /sim/faults/clear removes them all |
//! | POST /sim/password | `{password}`: as if the Odoo user's password changed |
//! | POST /sim/apikey | `{}` → `{key}`: a new API key of the user (JSON-2, and JSON-RPC in place of the password) |
//! | POST /sim/apikey/revoke | `{key}`: the key stops working at once |
//! | POST /sim/acl | `{model, read}`: `read: false` takes the user's read right on the model away (AccessError) |
//! | GET /sim/dump?model=M | every record with every field, archived included |
//! | GET /sim/fields?model=M | `fields_get` of the model, whatever protocol the simulator plays |
//! | GET /sim/stats, POST /sim/stats/reset | request counters, and the most requests served at once |
use serde_json::{json, Map, Value};
use std::sync::Mutex;

use crate::data::{self, FieldDef, Rec, Store, LINE, ORDER};
use crate::http::Reply;
use crate::state::{Fault, Sim, Stats};

fn bad(msg: &str) -> Reply {
    Reply::json(400, &json!({"error": msg}))
}

pub fn handle(sim: &Mutex<Sim>, method: &str, path: &str, body: &[u8]) -> Reply {
    let req: Value = if body.is_empty() { json!({}) } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad(&format!("body is not JSON: {e}")),
        }
    };
    let mut sim = sim.lock().unwrap();
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let model_name = req["model"].as_str().map(str::to_owned).or_else(|| query.strip_prefix("model=").map(str::to_owned)).unwrap_or_default();
    let id = req["id"].as_i64().unwrap_or(0);
    match (method, route) {
        ("POST", "/sim/reset") => {
            let seed = req["seed"].as_u64().unwrap_or(1);
            sim.store = Store::new(seed, req["orders"].as_i64().unwrap_or(0), req["lines"].as_i64().unwrap_or(0));
            sim.faults.clear();
            sim.graveyard.clear();
            sim.stats = Stats::default();
            Reply::json(200, &json!({"ok": true}))
        }
        ("GET", "/sim/stats") => Reply::json(200, &serde_json::to_value(&sim.stats).unwrap()),
        ("POST", "/sim/stats/reset") => {
            sim.stats = Stats::default();
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/password") => {
            sim.password = req["password"].as_str().unwrap_or("").to_owned();
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/apikey") => {
            let key = sim.new_api_key();
            Reply::json(200, &json!({"key": key}))
        }
        ("POST", "/sim/apikey/revoke") => {
            let key = req["key"].as_str().unwrap_or("");
            if !sim.api_keys.remove(key) {
                return bad("no such API key");
            }
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/acl") => {
            if req["read"].as_bool().unwrap_or(true) {
                sim.denied.remove(&model_name);
            } else {
                sim.denied.insert(model_name.clone());
            }
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/fault") => match serde_json::from_value::<Fault>(req) {
            Ok(f) => {
                sim.faults.push(f);
                Reply::json(200, &json!({"ok": true}))
            }
            Err(e) => bad(&e.to_string()),
        },
        ("POST", "/sim/faults/clear") => {
            sim.faults.clear();
            Reply::json(200, &json!({"ok": true}))
        }
        ("GET", "/sim/fields") => {
            let Some(model) = sim.store.model(&model_name) else { return bad("unknown model") };
            Reply::json(200, &crate::methods::fields_get(model, None))
        }
        ("GET", "/sim/dump") => {
            let store = &sim.store;
            let Some(model) = store.model(&model_name) else { return bad("unknown model") };
            let fields: Vec<&FieldDef> = model.fields.iter().collect();
            let rows: Vec<Value> = model.records.iter().map(|(id, r)| Value::Object(store.render(model, *id, r, &fields))).collect();
            Reply::json(200, &Value::Array(rows))
        }
        ("POST", "/sim/write") => {
            let explicit = req["write_date"].as_str().and_then(data::parse_datetime);
            let values = req["values"].as_object().cloned().unwrap_or_default();
            let later = req["commit"].as_str() == Some("later");
            let silent = req["silent"].as_bool().unwrap_or(false);
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            let Some(visible) = model.records.get_mut(&id) else { return bad("no such record") };
            let mut rec = visible.clone();
            if !silent {
                rec.write_us = data::now_us().max(rec.write_us + 1);
            }
            if let Some(t) = explicit {
                rec.write_us = t + 123_456;
            }
            if let Some(a) = values.get("active").and_then(Value::as_bool) {
                rec.active = a;
            }
            rec.overrides.get_or_insert_with(Default::default).extend(values);
            let write_date = data::fmt_datetime(rec.write_us);
            if later {
                visible.pending = Some(Box::new(rec));
            } else {
                *visible = rec;
            }
            Reply::json(200, &json!({"ok": true, "write_date": write_date}))
        }
        ("POST", "/sim/commit") => {
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            let Some(rec) = model.records.get_mut(&id) else { return bad("no such record") };
            let Some(pending) = rec.pending.take() else { return bad("no pending write") };
            *rec = *pending;
            Reply::json(200, &json!({"ok": true, "write_date": data::fmt_datetime(rec.write_us)}))
        }
        ("POST", "/sim/clock") => {
            data::advance_clock((req["advance_s"].as_f64().unwrap_or(0.0) * 1e6) as i64);
            Reply::json(200, &json!({"ok": true, "now": data::fmt_datetime(data::now_us())}))
        }
        ("POST", "/sim/touch") => {
            let ids: Vec<i64> = req["ids"].as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
            let explicit = req["write_date"].as_str().and_then(data::parse_datetime);
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            let mut n = 0;
            for (i, id) in ids.into_iter().enumerate() {
                if let Some(r) = model.bump(id) {
                    r.version += 1;
                    if let Some(t) = explicit {
                        r.write_us = t + i as i64;
                    }
                    n += 1;
                }
            }
            Reply::json(200, &json!({"touched": n}))
        }
        ("POST", "/sim/archive") => {
            let active = req["active"].as_bool().unwrap_or(false);
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            if !model.has_active() {
                return bad("this model has no active field");
            }
            let Some(rec) = model.bump(id) else { return bad("no such record") };
            rec.active = active;
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/create") => {
            let values = req["values"].as_object().cloned().unwrap_or_default();
            let order = values.get("order_id").and_then(Value::as_i64);
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            let new_id = model.next_id;
            model.next_id += 1;
            let t = data::now_us();
            let mut overrides: Map<String, Value> = values;
            overrides.remove("order_id");
            model.records.insert(new_id, Rec { write_us: t, create_us: t, version: 0, active: true, overrides: Some(Box::new(overrides)), pending: None });
            if model_name == LINE {
                let o = order.unwrap_or(1);
                sim.store.link_line(new_id, o);
                // As when the line is added through the order's form: the order is written too.
                sim.store.orders.bump(o);
            }
            Reply::json(200, &json!({"id": new_id}))
        }
        ("POST", "/sim/delete") => {
            let Some(rec) = sim.store.model_mut(&model_name).and_then(|m| m.records.remove(&id)) else {
                return bad("no such record");
            };
            sim.graveyard.push((model_name.clone(), id, rec, None));
            if model_name == ORDER {
                for line in sim.store.lines_of.get(&id).cloned().unwrap_or_default() {
                    sim.store.unlink_line(line);
                    if let Some(r) = sim.store.lines.records.remove(&line) {
                        sim.graveyard.push((LINE.to_owned(), line, r, Some(id)));
                    }
                }
            } else if let Some(o) = sim.store.unlink_line(id) {
                sim.store.orders.bump(o);
                sim.graveyard.last_mut().unwrap().3 = Some(o);
            }
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/restore") => {
            let Some(i) = sim.graveyard.iter().position(|(m, gid, _, _)| *m == model_name && *gid == id) else {
                return bad("no such deleted record");
            };
            let (_, _, rec, order) = sim.graveyard.remove(i);
            if let Some(o) = order {
                sim.store.link_line(id, o);
            }
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            model.records.insert(id, rec);
            model.bump(id);
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/field/add") => {
            let f = FieldDef {
                name: req["name"].as_str().unwrap_or("").to_owned(),
                ftype: req["type"].as_str().unwrap_or("char").to_owned(),
                string: req["name"].as_str().unwrap_or("").to_owned(),
                relation: req["relation"].as_str().map(str::to_owned),
                store: req["store"].as_bool().unwrap_or(true),
                selection: None,
                custom: true,
            };
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            if f.name.is_empty() || model.field(&f.name).is_some() {
                return bad("missing or existing field name");
            }
            model.fields.push(f);
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", "/sim/field/remove") => {
            let name = req["name"].as_str().unwrap_or("");
            let Some(model) = sim.store.model_mut(&model_name) else { return bad("unknown model") };
            let before = model.fields.len();
            model.fields.retain(|f| f.name != name);
            if before == model.fields.len() {
                return bad("no such field");
            }
            Reply::json(200, &json!({"ok": true}))
        }
        _ => Reply::json(404, &json!({"error": format!("no route {method} {route}")})),
    }
}
