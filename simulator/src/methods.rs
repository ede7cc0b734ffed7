//! The read methods themselves, whatever the protocol that asked: `fields_get`, `search`,
//! `search_read`, `search_count`, `read` (and the group methods of `fingerprint.rs`), with Odoo's
//! semantics (archived records hidden unless the context says otherwise, ids that do not exist
//! left out of `read`, an AccessError on a relational field whose model may not be read).
use serde_json::{json, Map, Value};
use std::cell::Cell;
use std::cmp::Ordering;

use crate::data::{FieldDef, Model, Poison, Rec};
use crate::domain;
use crate::state::Sim;

/// The parameters of each method served, in their positional order (`ids` first for `read`, a
/// record method): JSON-RPC's positional arguments bind to them, JSON-2's body names them.
pub fn params(method: &str) -> &'static [&'static str] {
    match method {
        "search_read" => &["domain", "fields", "offset", "limit", "order", "load"],
        "search" => &["domain", "offset", "limit", "order"],
        "search_count" => &["domain", "limit"],
        "read" => &["ids", "fields", "load"],
        "fields_get" => &["allfields", "attributes"],
        "read_group" => &["domain", "fields", "groupby", "offset", "limit", "orderby", "lazy"],
        "formatted_read_group" => &["domain", "groupby", "aggregates", "having", "offset", "limit", "order"],
        _ => &[],
    }
}

/// `execute_kw`'s positional arguments, named, into its keyword arguments.
pub fn bind(method: &str, positional: &[Value], mut kwargs: Map<String, Value>) -> Map<String, Value> {
    for (name, v) in params(method).iter().zip(positional) {
        kwargs.insert((*name).to_owned(), v.clone());
    }
    kwargs
}

/// Why a method was not run; each protocol says it in its own way.
#[derive(Debug)]
pub enum Refusal {
    UnknownModel,
    UnknownMethod,
    /// A method whose name starts with `_`.
    Private,
    /// A method that exists in Odoo but is not a read: the simulator never serves those.
    NotRead,
    /// The user may not read this model (`/sim/acl`).
    NoReadRight,
    /// An AccessError worded in full (a relational field whose model may not be read).
    Access(String),
    /// An exception while running it (a bad domain, an unknown field): `builtins.ValueError`.
    Value(String),
}

impl Refusal {
    /// The Odoo exception and message, as Odoo words them.
    pub fn exception(&self, model: &str, method: &str) -> (&'static str, String) {
        match self {
            Refusal::UnknownModel => ("odoo.exceptions.UserError", format!("Object {model} doesn't exist")),
            Refusal::UnknownMethod => ("builtins.AttributeError", format!("The method '{model}.{method}' does not exist")),
            Refusal::Private => ("odoo.exceptions.AccessError", format!("Private methods (such as '{model}.{method}') cannot be called remotely.")),
            Refusal::NotRead => ("odoo.exceptions.AccessError", format!("The simulator refuses {method}: it only serves read methods")),
            Refusal::NoReadRight => (
                "odoo.exceptions.AccessError",
                format!("You are not allowed to access '{model}' ({model}) records.\n\nThis operation is allowed for the following groups:\n\t- Role / Administrator\n\nContact your administrator to request access if necessary."),
            ),
            Refusal::Access(m) => ("odoo.exceptions.AccessError", m.clone()),
            Refusal::Value(m) => ("builtins.ValueError", m.clone()),
        }
    }
}

/// Names of Odoo methods that write: known to exist, refused here.
const WRITE_METHODS: [&str; 6] = ["write", "create", "unlink", "copy", "toggle_active", "action_archive"];

/// Run `method` of `model_name` with its arguments by name (see [`bind`]).
pub fn execute(sim: &mut Sim, model_name: &str, method: &str, kwargs: &Map<String, Value>) -> Result<Value, Refusal> {
    if sim.store.model(model_name).is_none() {
        return Err(Refusal::UnknownModel);
    }
    if method.starts_with('_') {
        return Err(Refusal::Private);
    }
    if !sim.serves(method) {
        if !WRITE_METHODS.contains(&method) {
            return Err(Refusal::UnknownMethod);
        }
        // scrap_sga must never get here; the counter lets tests prove it.
        sim.stats.non_read_calls += 1;
        return Err(Refusal::NotRead);
    }
    if sim.denied.contains(model_name) && method != "fields_get" {
        return Err(Refusal::NoReadRight);
    }
    let model = sim.store.model(model_name).expect("checked above");
    let visited = Cell::new(0);
    let answer = match method {
        "fields_get" => Ok(fields_get(model, kwargs.get("attributes"))),
        "read" => read(sim, model, kwargs, &visited),
        "read_group" => crate::fingerprint::read_group(sim, model, kwargs, &visited).map_err(Refusal::Value),
        "formatted_read_group" => crate::fingerprint::formatted_read_group(sim, model, kwargs, &visited).map_err(Refusal::Value),
        _ => search(sim, model, method, kwargs, &visited),
    };
    sim.stats.records_visited += visited.get();
    sim.stats.most_records_visited = sim.stats.most_records_visited.max(visited.get());
    answer
}

pub fn fields_get(model: &Model, attributes: Option<&Value>) -> Value {
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
        if let Some(r) = &f.relation_field {
            a.insert("relation_field".into(), json!(r));
        }
        if let Some(sel) = &f.selection {
            a.insert("selection".into(), sel.clone());
        }
        if let Some((p, s)) = f.digits {
            a.insert("digits".into(), json!([p, s]));
        }
        // A field from a fields_get document is served as the document gave it.
        if let Some(doc) = &f.attrs {
            a.extend(doc.iter().map(|(k, v)| (k.clone(), v.clone())));
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

fn read(sim: &Sim, model: &Model, kwargs: &Map<String, Value>, visited: &Cell<u64>) -> Result<Value, Refusal> {
    let fields = requested_fields(model, kwargs).map_err(Refusal::Value)?;
    let ids: Vec<i64> = kwargs.get("ids").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    visited.set(visited.get() + ids.len() as u64);
    if let Some(id) = ids.iter().find(|id| model.hidden.contains(id)) {
        // Odoo 17 and later's wording of a record rule's refusal.
        return Err(Refusal::Access(format!(
            "Uh-oh! Looks like you have stumbled upon some top-secret records.\n\nSorry, {} (id={}) doesn't have 'read' access to:\n- {}, {id} ({}: {id})\n\nIf you really, really need access, perhaps you can win over your friendly administrator with a batch of freshly baked cookies.",
            sim.login,
            sim.uid,
            sim.store.label(&model.name),
            model.name
        )));
    }
    let page: Vec<(i64, &Rec)> = ids.iter().filter_map(|id| model.records().get(id).map(|r| (*id, r))).collect();
    render_page(sim, model, &fields, page)
}

/// The records of a page, as `read` and `search_read` answer them. Reading a one2many or
/// many2many whose model the user may not read fails as in Odoo (the comodel is searched).
fn render_page(sim: &Sim, model: &Model, fields: &[&FieldDef], page: Vec<(i64, &Rec)>) -> Result<Value, Refusal> {
    if !page.is_empty() {
        if let Some(f) = fields.iter().find(|f| sim.denied.iter().any(|d| f.reads_model(d))) {
            let rel = f.relation.as_deref().unwrap_or("");
            return Err(Refusal::Access(format!(
                "Failed to read field {}.{}\nYou are not allowed to access '{}' ({rel}) records.\n\nThis operation is allowed for the following groups:\n\t- Contact/Creation\n\t- Role / User\n\nContact your administrator to request access if necessary.",
                model.name,
                f.name,
                sim.store.label(rel)
            )));
        }
    }
    // A poisoned record fails its read once a field is asked besides those a listing asks
    // (a compute runs when its field is read).
    if fields.iter().any(|f| !matches!(f.name.as_str(), "id" | "write_date")) {
        if let Some(id) = page.iter().map(|(id, _)| *id).find(|id| model.poisoned.get(id) == Some(&Poison::Error)) {
            return Err(Refusal::Value(format!("could not convert string to float: 'n/a' (while reading {},{id})", model.name)));
        }
    }
    let nan_field = fields.iter().find(|f| matches!(f.ftype.as_str(), "float" | "monetary")).map(|f| f.name.clone());
    Ok(Value::Array(
        page.into_iter()
            .map(|(id, r)| {
                let mut record = sim.store.render(model, id, r, fields);
                if let (Some(f), Some(Poison::NaN)) = (&nan_field, model.poisoned.get(&id)) {
                    crate::data::NAN_RENDERED.store(true, std::sync::atomic::Ordering::Relaxed);
                    record.insert(f.clone(), json!(crate::data::NAN_MARKER));
                }
                Value::Object(record)
            })
            .collect(),
    ))
}

fn search(sim: &Sim, model: &Model, method: &str, kwargs: &Map<String, Value>, visited: &Cell<u64>) -> Result<Value, Refusal> {
    let domain_v = kwargs.get("domain").cloned().unwrap_or(json!([]));
    let query = domain::Query::new(&sim.store, model, sim.whole_second_datetimes(), &domain_v, kwargs, visited).map_err(Refusal::Value)?;
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
            return Err(Refusal::Value(format!("Invalid field {k:?} on model {:?}", model.name)));
        }
    }
    let offset = kwargs.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = kwargs.get("limit").and_then(Value::as_u64).map(|l| l as usize);
    let page: Vec<(i64, &Rec)> = if method == "search_count" {
        return Ok(json!(query.count()));
    } else if keys.len() == 1 && keys[0].0 == "id" {
        // The keyset path: walk the ids and stop at the limit.
        let want = limit.map(|l| offset.saturating_add(l));
        query.rows(keys[0].1, want).skip(offset).take(limit.unwrap_or(usize::MAX)).collect()
    } else {
        let mut all: Vec<(i64, &Rec)> = query.rows(false, None).collect();
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
    let fields = requested_fields(model, kwargs).map_err(Refusal::Value)?;
    render_page(sim, model, &fields, page)
}
