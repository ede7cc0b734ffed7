//! `/sim/*`: what tests use to change Odoo under the extension's feet. Every route that names a
//! `model` works on every model served (the default schema's, another schema's, or one loaded).
//!
//! | call | body |
//! |---|---|
//! | POST /sim/reset | `{seed, schema?, orders?, lines?, records?}`: new data. `schema`: `default`, `variant` or `partner` (default: the one served). `orders` / `lines` size dimagaz.bc / dimagaz.bc.line, `records` every other model (`N`, or `{model: N}` per model); absent sizes are 0. Clears faults, chaos, deleted records and counters; limits and costs stay |
//! | POST /sim/model/load | `{model, fields, records, label?}`: serve `model` (replacing one of that name) from `fields`, a `fields_get` document (field name -> `{type, string, store, relation?, relation_field?, selection?, digits?, ...}`), with `records` generated records |
//! | POST /sim/write | `{model, id, values, write_date?, commit?, silent?}`: set values; write_date moves to now (or to the given second). `commit: "later"`: the write is made now but stays invisible until `/sim/commit`, as in a long Odoo transaction. `silent: true`: write_date does not move (a computed field whose value changed) |
//! | POST /sim/commit | `{model, id}`: the pending write of the record becomes visible, with its original write_date |
//! | POST /sim/clock | `{advance_s}`: Odoo's clock jumps ahead (write dates, the Date header) |
//! | POST /sim/touch | `{model, ids, write_date?, same_values?, values?}`: new generated values (or the same ones, or `values` set on each record, as a mass action) and a new write_date (now, or all the same given second: one batch `write`) |
//! | POST /sim/create | `{model, values?}` → `{id}`; a linked many2one in `values` (`order_id`, `bc_id`, ...) picks the parent (default: the first), which is written too |
//! | POST /sim/archive | `{model, id, active}` (a model with an `active` field) |
//! | POST /sim/delete | `{model, id}`: deleting a record deletes the records whose many2one points to it through a one2many's `relation_field` (an order's lines), as `ondelete=cascade` does; deleting such a child writes its parent |
//! | POST /sim/restore | `{model, id}`: a deleted record comes back with its id and links (restored from a backup, say) |
//! | POST /sim/heavy | `{model, field, ids: [..] \| from, to, bytes}`: those records' binary `field` becomes `bytes` bytes (generated at each read, never stored), their write_date moves as by a write; `bytes: 0` undoes it |
//! | POST /sim/poison | `{model, ids: [..] \| from, to, kind}`: reading those records fails, as a record's bad data makes a real Odoo fail: `kind: "error"` raises a ValueError when any field but id and write_date is read (a compute), `"nan"` sends a float field's value as `NaN` (Python's json writes it; it is not JSON), `"none"` undoes it; their write_date moves as by a write |
//! | POST /sim/field/add | `{model, name, type, relation?, store?, selection?, digits?}` |
//! | POST /sim/field/remove | `{model, name}` |
//! | POST /sim/fault | a [`Fault`](crate::faults::Fault): `{kind, method?, count?, after?, delay_ms?, name?, message?, retry_after?, bytes?}`, `kind` one of `delay`, `slow`, `http500`, `http429`, `http502`, `http503`, `http504`, `malformed`, `drop`, `cut`, `huge`, `odoo_error`; POST /sim/faults/clear removes them all |
//! | POST /sim/chaos | `{probability, kinds, seed?, slow_ms?, retry_after?, bytes?}`: each Odoo request (not `/sim/`) gets a fault of one of `kinds` with that probability; `{probability: 0}` stops it |
//! | POST /sim/cost | `{model, per_record_us?, per_kb_us?}`: the wall time a worker spends per record of a `read` / `search_read` answer of the model, and per KB of its answers |
//! | POST /sim/limits | `{time_real_ms?, rate_per_second?, retry_after?, jsonrpc?, web?, disabled_methods?}` → the limits now: past `time_real_ms` of serving time the connection closes unanswered (`limit_time_real`, 0: none); more than `rate_per_second` Odoo requests a second get a 429 (0: none) with `Retry-After: <retry_after>` (`"2"`, an HTTP date, or null: none); `jsonrpc: false` removes /jsonrpc; `web: false` removes the `web` addon (formatted_read_group); `disabled_methods`: methods that do not exist (`["read_group"]`, as Odoo Online 19.1+) |
//! | POST /sim/password | `{password}`: as if the Odoo user's password changed |
//! | POST /sim/apikey | `{}` → `{key}`: a new API key of the user (JSON-2, and JSON-RPC in place of the password) |
//! | POST /sim/apikey/revoke | `{key}`: the key stops working at once |
//! | POST /sim/acl | `{model, read}`: `read: false` takes the user's read right on the model away: an AccessError on the model, and on reading any one2many / many2many to it from another model |
//! | POST /sim/rules | `{model, hide}`: record rules hide the records `hide` lists from the user (`[]`: none): left out of every search, search_read and count, an AccessError when `read` names one |
//! | GET /sim/dump?model=M | every record with every field, archived included |
//! | GET /sim/fields?model=M | `fields_get` of the model, whatever protocol the simulator plays |
//! | GET /sim/stats, POST /sim/stats/reset | counters: `requests` (by method), `protocols`, `bytes_out`, `non_read_calls`, `records_visited` (records looked at to answer model requests, through an index or by a domain's filter) and `most_records_visited` (the most by one request), `most_at_once`, `most_per_second`, `failed` (by status, `drop`, `cut`, `time_limit`), `faults` (by kind), `user_agent` |
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

use crate::data::{FieldDef, Sizes, Store};
use crate::faults::{Chaos, Fault};
use crate::schema;
use crate::state::{Sim, Stats};

mod edit;

pub type Answer = Result<Value, String>;

fn ok() -> Answer {
    Ok(json!({"ok": true}))
}

pub fn handle(sim: &Mutex<Sim>, method: &str, path: &str, body: &[u8]) -> crate::http::Reply {
    let req: Value = if body.is_empty() { json!({}) } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return crate::http::Reply::json(400, &json!({"error": format!("body is not JSON: {e}")})),
        }
    };
    let mut sim = sim.lock().unwrap();
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let model = req["model"].as_str().map(str::to_owned).or_else(|| query.strip_prefix("model=").map(str::to_owned)).unwrap_or_default();
    let answer = match (method, route) {
        ("POST", "/sim/reset") => reset(&mut sim, &req),
        ("POST", "/sim/model/load") => load_model(&mut sim, &model, &req),
        ("GET", "/sim/stats") => Ok(serde_json::to_value(&sim.stats).unwrap()),
        ("POST", "/sim/stats/reset") => {
            sim.stats = Stats::default();
            ok()
        }
        ("POST", "/sim/fault") => serde_json::from_value::<Fault>(req).map_err(|e| e.to_string()).map(|f| sim.faults.push(f)).and_then(|_| ok()),
        ("POST", "/sim/faults/clear") => {
            sim.faults.clear();
            ok()
        }
        ("POST", "/sim/chaos") => Chaos::from_json(&req).map(|c| sim.chaos = c).and_then(|_| ok()),
        ("POST", "/sim/limits") => sim.limits.update(&req).map(|_| sim.limits.snapshot()),
        ("POST", "/sim/cost") => cost(&mut sim, &model, &req),
        _ => settings(&mut sim, method, route, &model, &req)
            .or_else(|| edit::handle(&mut sim.store, method, route, &model, &req))
            .unwrap_or_else(|| Err(format!("no route {method} {route}"))),
    };
    match answer {
        Ok(v) => crate::http::Reply::json(200, &v),
        Err(e) if e.starts_with("no route") => crate::http::Reply::json(404, &json!({"error": e})),
        Err(e) => crate::http::Reply::json(400, &json!({"error": e})),
    }
}

/// The user's credentials and rights, and what the simulator shows of its data.
fn settings(sim: &mut Sim, method: &str, route: &str, model: &str, req: &Value) -> Option<Answer> {
    Some(match (method, route) {
        ("POST", "/sim/password") => {
            sim.password = req["password"].as_str().unwrap_or("").to_owned();
            ok()
        }
        ("POST", "/sim/apikey") => Ok(json!({"key": sim.new_api_key()})),
        ("POST", "/sim/apikey/revoke") => {
            if sim.api_keys.remove(req["key"].as_str().unwrap_or("")) {
                ok()
            } else {
                Err("no such API key".into())
            }
        }
        ("POST", "/sim/acl") => {
            if req["read"].as_bool().unwrap_or(true) {
                sim.denied.remove(model);
            } else {
                sim.denied.insert(model.to_owned());
            }
            ok()
        }
        ("GET", "/sim/fields") => sim.store.model(model).map(|m| crate::methods::fields_get(m, None)).ok_or_else(|| "unknown model".into()),
        ("GET", "/sim/dump") => {
            let store = &sim.store;
            let m = store.model(model)?;
            let fields: Vec<&FieldDef> = m.fields.iter().collect();
            Ok(Value::Array(m.records().iter().map(|(id, r)| Value::Object(store.render(m, *id, r, &fields))).collect()))
        }
        _ => return None,
    })
}

/// New data: the schema named (or the one served), sized by the body.
fn reset(sim: &mut Sim, req: &Value) -> Answer {
    let served = if schema::BUILTIN.iter().any(|(n, _)| *n == sim.store.schema) { sim.store.schema.clone() } else { "default".into() };
    let name = req["schema"].as_str().map(str::to_owned).unwrap_or(served);
    let doc = schema::builtin(&name)?;
    sim.store = Store::build(req["seed"].as_u64().unwrap_or(1), doc, &Sizes::from_json(req));
    sim.faults.clear();
    sim.chaos = None;
    sim.stats = Stats::default();
    ok()
}

fn load_model(sim: &mut Sim, model: &str, req: &Value) -> Answer {
    if model.is_empty() {
        return Err("model is required".into());
    }
    let fields = schema::fields_from_doc(&req["fields"])?;
    let label = req["label"].as_str().map(str::to_owned).unwrap_or_else(|| sim.store.label(model));
    sim.store.load_model(model, &label, fields, req["records"].as_i64().unwrap_or(0));
    ok()
}

fn cost(sim: &mut Sim, model: &str, req: &Value) -> Answer {
    if model.is_empty() {
        return Err("model is required".into());
    }
    let c = sim.costs.entry(model.to_owned()).or_default();
    if let Some(us) = req["per_record_us"].as_u64() {
        c.per_record = Duration::from_micros(us);
    }
    if let Some(us) = req["per_kb_us"].as_u64() {
        c.per_kb = Duration::from_micros(us);
    }
    Ok(json!({"model": model, "per_record_us": c.per_record.as_micros() as u64, "per_kb_us": c.per_kb.as_micros() as u64}))
}
