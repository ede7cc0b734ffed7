//! The `/sim/` routes that change records (or a model's fields), on any model served: what a
//! user or an Odoo job does between two syncs. `control` documents their bodies.
use serde_json::{json, Map, Value};

use super::Answer;
use crate::data::{self, FieldDef, Store};

/// `None` when `route` is not one of these.
pub fn handle(store: &mut Store, method: &str, route: &str, model: &str, req: &Value) -> Option<Answer> {
    if method != "POST" {
        return None;
    }
    let id = req["id"].as_i64().unwrap_or(0);
    Some(match route {
        "/sim/write" => write(store, model, id, req),
        "/sim/commit" => commit(store, model, id),
        "/sim/clock" => {
            data::advance_clock((req["advance_s"].as_f64().unwrap_or(0.0) * 1e6) as i64);
            Ok(json!({"ok": true, "now": data::fmt_datetime(data::now_us())}))
        }
        "/sim/touch" => touch(store, model, req),
        "/sim/archive" => archive(store, model, id, req["active"].as_bool().unwrap_or(false)),
        "/sim/create" => store.create(model, req["values"].as_object().cloned().unwrap_or_default()).map(|id| json!({"id": id})),
        "/sim/delete" => store.delete(model, id).map(|_| json!({"ok": true})),
        "/sim/restore" => store.restore(model, id).map(|_| json!({"ok": true})),
        "/sim/heavy" => heavy(store, model, req),
        "/sim/poison" => poison(store, model, req),
        "/sim/rules" => rules(store, model, req),
        "/sim/field/add" => add_field(store, model, req),
        "/sim/field/remove" => remove_field(store, model, req["name"].as_str().unwrap_or("")),
        _ => return None,
    })
}

fn write(store: &mut Store, model: &str, id: i64, req: &Value) -> Answer {
    let explicit = req["write_date"].as_str().and_then(data::parse_datetime);
    let values: Map<String, Value> = req["values"].as_object().cloned().unwrap_or_default();
    let later = req["commit"].as_str() == Some("later");
    let silent = req["silent"].as_bool().unwrap_or(false);
    let m = store.model_mut(model).ok_or("unknown model")?;
    let write_date = m
        .update(id, |visible| {
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
            write_date
        })
        .ok_or("no such record")?;
    Ok(json!({"ok": true, "write_date": write_date}))
}

fn commit(store: &mut Store, model: &str, id: i64) -> Answer {
    let m = store.model_mut(model).ok_or("unknown model")?;
    let committed = m.update(id, |rec| {
        let pending = rec.pending.take()?;
        *rec = *pending;
        Some(rec.write_us)
    });
    let write_us = committed.ok_or("no such record")?.ok_or("no pending write")?;
    Ok(json!({"ok": true, "write_date": data::fmt_datetime(write_us)}))
}

fn touch(store: &mut Store, model: &str, req: &Value) -> Answer {
    let ids: Vec<i64> = req["ids"].as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    let explicit = req["write_date"].as_str().and_then(data::parse_datetime);
    // An import that writes back what a record holds: Odoo still moves write_date.
    let same_values = req["same_values"].as_bool().unwrap_or(false);
    // A mass action (a server action, "Update" on a list): these fields, the same on every record.
    let values: Option<Map<String, Value>> = req["values"].as_object().cloned();
    let m = store.model_mut(model).ok_or("unknown model")?;
    let mut n = 0;
    for (i, id) in ids.into_iter().enumerate() {
        let touched = m.bump(id, |r| {
            if let Some(v) = &values {
                r.overrides.get_or_insert_with(Default::default).extend(v.clone());
            } else if !same_values {
                r.version += 1;
            }
            if let Some(t) = explicit {
                r.write_us = t + i as i64;
            }
        });
        n += touched.is_some() as u64;
    }
    Ok(json!({"touched": n}))
}

fn archive(store: &mut Store, model: &str, id: i64, active: bool) -> Answer {
    let m = store.model_mut(model).ok_or("unknown model")?;
    if !m.has_active() {
        return Err("this model has no active field".into());
    }
    m.bump(id, |r| r.active = active).ok_or("no such record")?;
    Ok(json!({"ok": true}))
}

/// `{model, field, ids | from/to, bytes}`: only the size is kept; the value is generated when read.
fn heavy(store: &mut Store, model: &str, req: &Value) -> Answer {
    let field = req["field"].as_str().unwrap_or("");
    let bytes = req["bytes"].as_u64().ok_or("bytes is a number")?;
    let m = store.model_mut(model).ok_or("unknown model")?;
    if m.field(field).is_none_or(|f| f.ftype != "binary") {
        return Err(format!("{model} has no binary field {field:?}"));
    }
    let mut n = 0;
    for id in ids_of(req)? {
        if m.bump(id, |_| ()).is_none() {
            continue;
        }
        let sizes = m.heavy.entry(field.to_owned()).or_default();
        if bytes == 0 {
            sizes.remove(&id);
        } else {
            sizes.insert(id, bytes);
        }
        n += 1;
    }
    Ok(json!({"heavy": n}))
}

/// `{model, ids | from/to, kind}`: reading those records fails from now on (`error`, `nan`),
/// or no more (`none`).
fn poison(store: &mut Store, model: &str, req: &Value) -> Answer {
    let kind = match req["kind"].as_str().unwrap_or("error") {
        "error" => Some(data::Poison::Error),
        "nan" => Some(data::Poison::NaN),
        "none" => None,
        other => return Err(format!("kind is error, nan or none, not {other:?}")),
    };
    let m = store.model_mut(model).ok_or("unknown model")?;
    let mut n = 0;
    for id in ids_of(req)? {
        if m.bump(id, |_| ()).is_none() {
            continue;
        }
        match kind {
            Some(k) => m.poisoned.insert(id, k),
            None => m.poisoned.remove(&id),
        };
        n += 1;
    }
    Ok(json!({"poisoned": n}))
}

/// `{model, hide}`: the records the user's record rules hide from now on (`[]`: none).
fn rules(store: &mut Store, model: &str, req: &Value) -> Answer {
    let m = store.model_mut(model).ok_or("unknown model")?;
    m.hidden = req["hide"].as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    Ok(json!({"hidden": m.hidden.len()}))
}

/// `ids: [..]`, or `from` and `to` (both included).
fn ids_of(req: &Value) -> Result<Vec<i64>, String> {
    Ok(match req["ids"].as_array() {
        Some(a) => a.iter().filter_map(Value::as_i64).collect(),
        None => (req["from"].as_i64().ok_or("ids, or from and to")?..=req["to"].as_i64().ok_or("ids, or from and to")?).collect(),
    })
}

fn add_field(store: &mut Store, model: &str, req: &Value) -> Answer {
    let name = req["name"].as_str().unwrap_or("");
    let mut f = FieldDef::new(name, req["type"].as_str().unwrap_or("char"), name, req["relation"].as_str());
    f.store = req["store"].as_bool().unwrap_or(true);
    f.selection = req.get("selection").filter(|s| s.is_array()).cloned();
    f.digits = req["digits"].as_array().and_then(|d| Some((d.first()?.as_u64()? as u32, d.get(1)?.as_u64()? as u32)));
    f.custom = true;
    let m = store.model_mut(model).ok_or("unknown model")?;
    if name.is_empty() || m.field(name).is_some() {
        return Err("missing or existing field name".into());
    }
    m.fields.push(f);
    Ok(json!({"ok": true}))
}

fn remove_field(store: &mut Store, model: &str, name: &str) -> Answer {
    let m = store.model_mut(model).ok_or("unknown model")?;
    let before = m.fields.len();
    m.fields.retain(|f| f.name != name);
    if before == m.fields.len() {
        return Err("no such field".into());
    }
    Ok(json!({"ok": true}))
}
