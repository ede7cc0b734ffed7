//! `POST /jsonrpc`: the read methods of Odoo 18, answering in its exact wire format.
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::sync::Mutex;

use crate::data::{FieldDef, Model};
use crate::domain;
use crate::http::Reply;
use crate::state::{FaultKind, Sim};

const READ_METHODS: [&str; 5] = ["fields_get", "search", "search_read", "search_count", "read"];

pub fn ok(id: &Value, result: Value) -> Reply {
    Reply::json(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// Odoo's error envelope: HTTP 200, `error.data.name` is the Python exception class.
pub fn odoo_error(id: &Value, name: &str, message: &str) -> Reply {
    let debug = format!("Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/odoo/http.py\", line 1954, in _transactioning\n    return service_model.retrying(func, env=self.env)\n{name}: {message}\n");
    Reply::json(
        200,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": 200, "message": "Odoo Server Error",
            "data": {"name": name, "debug": debug, "message": message, "arguments": [message], "context": {}}}}),
    )
}

pub fn handle(sim: &Mutex<Sim>, body: &[u8]) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Reply::text(400, "Invalid JSON data");
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = &req["params"];
    let service = params["service"].as_str().unwrap_or("");
    let method = params["method"].as_str().unwrap_or("");
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let model_method = if method == "execute_kw" { args.get(4).and_then(Value::as_str).unwrap_or("") } else { method };

    let fault = sim.lock().unwrap().take_fault(model_method);
    if let Some(f) = fault {
        match f.kind {
            FaultKind::Delay => std::thread::sleep(std::time::Duration::from_millis(f.delay_ms)),
            FaultKind::Http500 => return Reply::text(500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
            FaultKind::Malformed => {
                return Reply::Send { status: 200, content_type: "application/json", body: br#"{"jsonrpc": "2.0", "id": 1, "result": [{"id": 1, "name": "#.to_vec() }
            }
            FaultKind::Drop => return Reply::Drop,
            FaultKind::OdooError => {
                let name = f.name.as_deref().unwrap_or("odoo.exceptions.AccessError");
                let message = f.message.as_deref().unwrap_or("You are not allowed to access this document.");
                return odoo_error(&id, name, message);
            }
        }
    }

    let mut sim = sim.lock().unwrap();
    sim.count(model_method);
    match (service, method) {
        ("common", "version") => ok(&id, json!({"server_version": "18.0+e-20241005", "server_version_info": [18, 0, 0, "final", 0, ""], "server_serie": "18.0", "protocol_version": 1})),
        ("common", "authenticate") | ("common", "login") => {
            let s = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
            if s(0) != sim.database {
                return wrong_database(&id, s(0));
            }
            if s(1) == sim.login && s(2) == sim.password {
                ok(&id, json!(sim.uid))
            } else {
                ok(&id, json!(false))
            }
        }
        ("object", "execute_kw") => execute_kw(&mut sim, &id, &args),
        _ => odoo_error(&id, "builtins.NameError", &format!("Method not available {service}.{method}")),
    }
}

fn wrong_database(id: &Value, db: &str) -> Reply {
    odoo_error(id, "psycopg2.OperationalError", &format!("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"{db}\" does not exist\n"))
}

fn execute_kw(sim: &mut Sim, id: &Value, args: &[Value]) -> Reply {
    let s = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
    if s(0) != sim.database {
        return wrong_database(id, s(0));
    }
    if args.get(1).and_then(Value::as_i64) != Some(sim.uid) || s(2) != sim.password {
        return odoo_error(id, "odoo.exceptions.AccessDenied", "Access Denied");
    }
    let (model_name, method) = (s(3), s(4));
    let empty = vec![];
    let margs = args.get(5).and_then(Value::as_array).unwrap_or(&empty);
    let kwargs = args.get(6).and_then(Value::as_object).cloned().unwrap_or_default();
    let Some(model) = sim.store.model(model_name) else {
        return odoo_error(id, "odoo.exceptions.UserError", &format!("Object {model_name} doesn't exist"));
    };
    if method.starts_with('_') {
        return odoo_error(id, "odoo.exceptions.AccessError", &format!("Private methods (such as {method}) cannot be called remotely."));
    }
    if !READ_METHODS.contains(&method) {
        // scrap_sga must never get here; the counter lets tests prove it.
        sim.stats.non_read_calls += 1;
        return odoo_error(id, "odoo.exceptions.AccessError", &format!("The simulator refuses {method}: it only serves read methods"));
    }
    let result = match method {
        "fields_get" => Ok(fields_get(model, kwargs.get("attributes"))),
        "read" => read(sim, model, margs, &kwargs),
        _ => search(sim, model, method, margs, &kwargs),
    };
    match result {
        Ok(v) => {
            let reply = ok(id, v);
            if let Reply::Send { body, .. } = &reply {
                sim.stats.bytes_out += body.len() as u64;
            }
            reply
        }
        Err(msg) => odoo_error(id, "builtins.ValueError", &msg),
    }
}

fn fields_get(model: &Model, attributes: Option<&Value>) -> Value {
    let wanted: Option<Vec<&str>> = attributes.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect());
    let mut out = Map::new();
    for f in &model.fields {
        let mut a = Map::new();
        a.insert("name".into(), json!(f.name));
        a.insert("type".into(), json!(f.ftype));
        a.insert("string".into(), json!(f.string));
        a.insert("store".into(), json!(f.store));
        a.insert("readonly".into(), json!(matches!(f.name.as_str(), "id" | "create_date" | "write_date" | "create_uid" | "write_uid" | "display_name")));
        a.insert("required".into(), json!(f.name == "name"));
        a.insert("searchable".into(), json!(true));
        a.insert("sortable".into(), json!(f.store));
        if let Some(r) = &f.relation {
            a.insert("relation".into(), json!(r));
        }
        if let Some(sel) = &f.selection {
            a.insert("selection".into(), sel.clone());
        }
        if let Some(w) = &wanted {
            a.retain(|k, _| w.contains(&k.as_str()));
        }
        out.insert(f.name.clone(), Value::Object(a));
    }
    Value::Object(out)
}

fn requested_fields<'m>(model: &'m Model, kwargs: &Map<String, Value>) -> Result<Vec<&'m FieldDef>, String> {
    match kwargs.get("fields").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| {
                let n = n.as_str().unwrap_or("");
                model.field(n).ok_or_else(|| format!("Invalid field '{n}' on model '{}'", model.name))
            })
            .collect(),
        _ => Ok(model.fields.iter().collect()),
    }
}

fn active_test(kwargs: &Map<String, Value>) -> bool {
    kwargs.get("context").and_then(|c| c.get("active_test")).and_then(Value::as_bool).unwrap_or(true)
}

fn read(sim: &Sim, model: &Model, margs: &[Value], kwargs: &Map<String, Value>) -> Result<Value, String> {
    let fields = requested_fields(model, kwargs)?;
    let ids: Vec<i64> = margs.first().and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    Ok(Value::Array(
        ids.iter()
            .filter_map(|id| model.records.get(id).map(|r| Value::Object(sim.store.render(model, *id, r, &fields))))
            .collect(),
    ))
}

fn search(sim: &Sim, model: &Model, method: &str, margs: &[Value], kwargs: &Map<String, Value>) -> Result<Value, String> {
    let domain_v = margs.first().cloned().or_else(|| kwargs.get("domain").cloned()).unwrap_or(json!([]));
    let dom = domain::parse(&domain_v)?;
    let mut used = Vec::new();
    dom.fields(&mut used);
    for f in &used {
        if model.field(f).is_none() {
            return Err(format!("Invalid field {}.{f} in leaf", model.name));
        }
    }
    // As in Odoo: archived records are hidden unless the context or the domain says otherwise.
    let hide_archived = model.has_active() && active_test(kwargs) && !used.iter().any(|f| f == "active");
    let order = kwargs.get("order").and_then(Value::as_str).unwrap_or("id asc").to_ascii_lowercase();
    let keys: Vec<(String, bool)> = order
        .split(',')
        .map(|t| {
            let mut p = t.split_whitespace();
            (p.next().unwrap_or("id").to_owned(), p.next() == Some("desc"))
        })
        .collect();
    for (k, _) in &keys {
        if model.field(k).is_none() {
            return Err(format!("Invalid field {k:?} on model {:?}", model.name));
        }
    }
    let offset = kwargs.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = kwargs.get("limit").and_then(Value::as_u64).map(|l| l as usize);
    let store = &sim.store;
    let matching = model.records.iter().filter(|(id, r)| (!hide_archived || r.active) && dom.matches(store, model, **id, r));
    let by_id_asc = keys.len() == 1 && keys[0] == ("id".to_owned(), false);
    let page: Vec<(i64, &crate::data::Rec)> = if method == "search_count" {
        return Ok(json!(matching.count()));
    } else if by_id_asc {
        // The keyset path: walk the id index and stop at the limit.
        matching.skip(offset).take(limit.unwrap_or(usize::MAX)).map(|(id, r)| (*id, r)).collect()
    } else {
        let mut all: Vec<(i64, &crate::data::Rec)> = matching.map(|(id, r)| (*id, r)).collect();
        all.sort_by(|a, b| {
            for (k, desc) in &keys {
                let o = match k.as_str() {
                    "id" => a.0.cmp(&b.0),
                    "write_date" => a.1.write_us.cmp(&b.1.write_us),
                    "create_date" => a.1.create_us.cmp(&b.1.create_us),
                    _ => Ordering::Equal,
                };
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.0.cmp(&b.0)
        });
        all.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect()
    };
    if method == "search" {
        return Ok(Value::Array(page.iter().map(|(id, _)| json!(id)).collect()));
    }
    let fields = requested_fields(model, kwargs)?;
    Ok(Value::Array(page.into_iter().map(|(id, r)| Value::Object(store.render(model, id, r, &fields))).collect()))
}
