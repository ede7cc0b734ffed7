//! The group methods a sync can fingerprint a set of records with, in one small request:
//! `read_group` (deprecated in 19, still served until 20) and `formatted_read_group` (19 and
//! later, defined by the `web` addon), with no groupby: one group whose aggregates (`__count`,
//! `id:sum`, `write_date:max`, ...) are computed in one pass over the matching records, without
//! rendering any of them (id and the dates come from the record itself).
//!
//! Shapes, from Odoo's source (`odoo/orm/models.py` `read_group`, `addons/web/models/models.py`
//! `formatted_read_group`) and the real answers in core/fixtures/odoo19 (43, 45):
//! * `read_group`: `[{"__count": n, "<name>": value, ..., "__domain": <domain>}]`, `__domain` in
//!   Odoo 19's prefix form (`[[1, "=", 1]]` for none), as sent before 19;
//! * `formatted_read_group`: `[{"__extra_domain": [[1, "=", 1]], "<spec>": value, ...}]`, keyed
//!   by the aggregate specs as given (`"__count"`, `"id:sum"`, `"write_date:max"`).
//!
//! An empty set still gives its group: count 0, and `false` for sum, min, max and avg
//! (`_read_group_empty_value`).
use serde_json::{json, Map, Value};
use std::cell::Cell;
use std::collections::BTreeSet;

use crate::data::{fmt_date, fmt_datetime, parse_datetime, Model, Sums};
use crate::state::Sim;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Count,
    CountDistinct,
    Sum,
    Min,
    Max,
    Avg,
}

/// How a field's values aggregate and are shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Integer,
    Float,
    Datetime,
    Date,
    /// Only counted.
    Other,
}

struct Aggregate {
    /// Its key in the answer.
    key: String,
    field: String,
    func: Func,
    kind: Kind,
}

fn func(name: &str) -> Result<Func, String> {
    Ok(match name {
        "count" => Func::Count,
        "count_distinct" => Func::CountDistinct,
        "sum" => Func::Sum,
        "min" => Func::Min,
        "max" => Func::Max,
        "avg" => Func::Avg,
        _ => return Err(format!("Invalid aggregation function {name:?}.")),
    })
}

fn kind(model: &Model, field: &str) -> Result<Kind, String> {
    let f = model.field(field).ok_or_else(|| format!("Invalid field {field:?} on model {:?}", model.name))?;
    Ok(match (field, f.ftype.as_str()) {
        ("id", _) | (_, "integer") => Kind::Integer,
        (_, "float" | "monetary") => Kind::Float,
        (_, "datetime") => Kind::Datetime,
        (_, "date") => Kind::Date,
        _ => Kind::Other,
    })
}

fn aggregate(model: &Model, key: &str, field: &str, func: Func) -> Result<Aggregate, String> {
    let kind = kind(model, field)?;
    let numeric = matches!(kind, Kind::Integer | Kind::Float);
    let ordered = numeric || matches!(kind, Kind::Datetime | Kind::Date);
    if (matches!(func, Func::Sum | Func::Avg) && !numeric) || (matches!(func, Func::Min | Func::Max) && !ordered) {
        return Err(format!("The simulator cannot aggregate {}.{field} of type {:?} that way", model.name, kind));
    }
    Ok(Aggregate { key: key.to_owned(), field: field.to_owned(), func, kind })
}

/// `read_group`'s `fields`: `"name:func(field)"`, `"field:func"`, or a plain numeric field (its
/// default aggregator, sum); other plain fields and `__count` add nothing.
fn read_group_specs(model: &Model, fields: &[Value]) -> Result<Vec<Aggregate>, String> {
    let mut out = Vec::new();
    for spec in fields.iter().filter_map(Value::as_str).filter(|s| *s != "__count") {
        match spec.split_once(':') {
            Some((name, rest)) => match rest.strip_suffix(')').and_then(|r| r.split_once('(')) {
                Some((f, field)) => out.push(aggregate(model, name, field, func(f)?)?),
                None => out.push(aggregate(model, name, name, func(rest)?)?),
            },
            None => {
                let k = kind(model, spec)?;
                let stored = model.field(spec).is_some_and(|f| f.store);
                if spec != "id" && stored && matches!(k, Kind::Integer | Kind::Float) {
                    out.push(aggregate(model, spec, spec, Func::Sum)?);
                }
            }
        }
    }
    Ok(out)
}

/// One aggregate's running state.
#[derive(Default)]
struct Acc {
    n: u64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
    distinct: BTreeSet<u64>,
}

impl Acc {
    fn add(&mut self, x: f64, func: Func) {
        self.n += 1;
        self.sum += x;
        self.min = Some(self.min.map_or(x, |m| m.min(x)));
        self.max = Some(self.max.map_or(x, |m| m.max(x)));
        if func == Func::CountDistinct {
            self.distinct.insert(x.to_bits());
        }
    }

    fn result(&self, a: &Aggregate) -> Value {
        let show = |x: f64| match a.kind {
            Kind::Integer => json!(x as i64),
            Kind::Datetime => json!(fmt_datetime(x as i64)),
            Kind::Date => json!(fmt_date(x as i64)),
            _ => json!(x),
        };
        match a.func {
            Func::Count => json!(self.n),
            Func::CountDistinct => json!(self.distinct.len()),
            _ if self.n == 0 => json!(false),
            Func::Sum => show(self.sum),
            Func::Min => show(self.min.unwrap_or_default()),
            Func::Max => show(self.max.unwrap_or_default()),
            Func::Avg => json!(self.sum / self.n as f64),
        }
    }
}

/// An aggregate of the index's sums, if they have it: a fingerprint's.
fn from_sums(a: &Aggregate, s: &Sums) -> Option<Acc> {
    match (a.field.as_str(), a.func) {
        ("id", Func::Sum) => Some(Acc { n: s.count, sum: s.id_sum as f64, ..Acc::default() }),
        ("write_date", Func::Max) => Some(Acc { n: s.count, max: (s.count > 0).then_some(s.newest as f64), ..Acc::default() }),
        _ => None,
    }
}

/// Count the records `domain` selects and aggregate them: from the index's sums when it has
/// them (an id range's fingerprint), else in one pass.
fn compute(sim: &Sim, model: &Model, domain: &Value, kwargs: &Map<String, Value>, aggs: &[Aggregate], visited: &Cell<u64>) -> Result<(crate::domain::Domain, u64, Vec<Value>), String> {
    let fields: Vec<_> = aggs.iter().map(|a| model.field(&a.field).expect("checked by aggregate()")).collect();
    let query = crate::domain::Query::new(&sim.store, model, sim.whole_second_datetimes(), domain, kwargs, visited)?;
    // Whether the sums have every aggregate asked (as those of no record would tell).
    let summable = aggs.iter().all(|a| from_sums(a, &Sums::default()).is_some());
    if summable {
        if let Some(s) = query.sums() {
            let values = aggs.iter().map(|a| from_sums(a, &s).expect("checked above").result(a)).collect();
            return Ok((query.domain, s.count, values));
        }
    }
    let mut accs: Vec<Acc> = aggs.iter().map(|_| Acc::default()).collect();
    let mut count = 0u64;
    for (id, r) in query.rows(false, None) {
        count += 1;
        for ((a, f), acc) in aggs.iter().zip(&fields).zip(&mut accs) {
            let x = match a.field.as_str() {
                "id" => Some(id as f64),
                "write_date" => Some(r.write_us as f64),
                "create_date" => Some(r.create_us as f64),
                _ => match sim.store.value(model, id, r, f) {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) if matches!(a.kind, Kind::Datetime | Kind::Date) => parse_datetime(&s).map(|u| u as f64),
                    Value::Array(v) if a.kind == Kind::Other => v.first().and_then(Value::as_f64),
                    Value::Bool(true) | Value::String(_) if a.kind == Kind::Other => Some(1.0),
                    _ => None,
                },
            };
            if let Some(x) = x {
                acc.add(x, a.func);
            }
        }
    }
    Ok((query.domain.clone(), count, accs.iter().zip(aggs).map(|(acc, a)| acc.result(a)).collect()))
}

fn no_groupby(kwargs: &Map<String, Value>) -> Result<(), String> {
    let groupby = kwargs.get("groupby");
    let empty = match groupby {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    };
    if !empty {
        return Err("The simulator serves read_group and formatted_read_group with groupby [] only".into());
    }
    if kwargs.get("having").and_then(Value::as_array).is_some_and(|h| !h.is_empty()) {
        return Err("The simulator serves formatted_read_group without having only".into());
    }
    Ok(())
}

/// The one group, after `offset` (and a `limit` of at least one).
fn page(group: Map<String, Value>, kwargs: &Map<String, Value>) -> Value {
    let offset = kwargs.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let limit = kwargs.get("limit").and_then(Value::as_u64);
    if offset > 0 || limit == Some(0) {
        return json!([]);
    }
    json!([group])
}

pub fn read_group(sim: &Sim, model: &Model, kwargs: &Map<String, Value>, visited: &Cell<u64>) -> Result<Value, String> {
    no_groupby(kwargs)?;
    let fields = kwargs.get("fields").and_then(Value::as_array).cloned().unwrap_or_default();
    let aggs = read_group_specs(model, &fields)?;
    let domain = kwargs.get("domain").cloned().unwrap_or(json!([]));
    let (dom, count, values) = compute(sim, model, &domain, kwargs, &aggs, visited)?;
    let mut group = Map::new();
    group.insert("__count".into(), json!(count));
    for (a, v) in aggs.iter().zip(values) {
        group.insert(a.key.clone(), v);
    }
    group.insert("__domain".into(), if sim.version >= 19 { dom.to_json() } else { domain });
    Ok(page(group, kwargs))
}

pub fn formatted_read_group(sim: &Sim, model: &Model, kwargs: &Map<String, Value>, visited: &Cell<u64>) -> Result<Value, String> {
    no_groupby(kwargs)?;
    let specs: Vec<String> = kwargs.get("aggregates").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
    let mut aggs = Vec::new();
    for spec in specs.iter().filter(|s| *s != "__count") {
        let (field, f) = spec.split_once(':').ok_or_else(|| format!("Invalid aggregate specification {spec:?}"))?;
        aggs.push(aggregate(model, spec, field, func(f)?)?);
    }
    let domain = kwargs.get("domain").cloned().unwrap_or(json!([]));
    let (_, count, values) = compute(sim, model, &domain, kwargs, &aggs, visited)?;
    let mut group = Map::new();
    group.insert("__extra_domain".into(), json!([[1, "=", 1]]));
    if specs.iter().any(|s| s == "__count") {
        group.insert("__count".into(), json!(count));
    }
    for (a, v) in aggs.iter().zip(values) {
        group.insert(a.key.clone(), v);
    }
    Ok(page(group, kwargs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Store, LINE, ORDER};

    fn sim(version: u32) -> Sim {
        Sim::new(version, Store::new(3, 40, 100))
    }

    fn kw(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn read_group_fingerprints_the_whole_model() {
        let s = sim(19);
        let m = s.store.model(LINE).unwrap();
        let out = read_group(&s, m, &kw(json!({"domain": [], "fields": ["id:sum", "write_date:max"], "groupby": [], "lazy": false})), &Cell::new(0)).unwrap();
        let newest = m.records().values().map(|r| r.write_us).max().unwrap();
        assert_eq!(out, json!([{"__count": 100, "id": 5050, "write_date": fmt_datetime(newest), "__domain": [[1, "=", 1]]}]));
    }

    #[test]
    fn read_group_by_id_range_and_archived() {
        let s = sim(19);
        let m = s.store.model(ORDER).unwrap();
        let all = kw(json!({"domain": [["id", ">", 0], ["id", "<=", 10]], "fields": ["id:sum"], "groupby": [], "lazy": false, "context": {"active_test": false}}));
        let out = read_group(&s, m, &all, &Cell::new(0)).unwrap();
        assert_eq!(out[0]["__count"], 10);
        assert_eq!(out[0]["id"], 55);
        assert_eq!(out[0]["__domain"], json!(["&", ["id", ">", 0], ["id", "<=", 10]]));
        let mut active_only = all.clone();
        active_only.remove("context");
        let active = (1..=10).filter(|i| m.records()[i].active).count();
        assert_eq!(read_group(&s, m, &active_only, &Cell::new(0)).unwrap()[0]["__count"], active);
        let s18 = sim(18);
        let out = read_group(&s18, s18.store.model(ORDER).unwrap(), &all, &Cell::new(0)).unwrap();
        assert_eq!(out[0]["__domain"], json!([["id", ">", 0], ["id", "<=", 10]]), "before 19: the domain as sent");
    }

    #[test]
    fn an_empty_set_still_answers_its_group() {
        let s = sim(19);
        let m = s.store.model(ORDER).unwrap();
        let out = read_group(&s, m, &kw(json!({"domain": [["id", ">", 1000]], "fields": ["id:sum", "write_date:max"], "groupby": []})), &Cell::new(0)).unwrap();
        assert_eq!(out, json!([{"__count": 0, "id": false, "write_date": false, "__domain": [["id", ">", 1000]]}]));
        let out = formatted_read_group(&s, m, &kw(json!({"domain": [["id", ">", 1000]], "groupby": [], "aggregates": ["__count", "id:sum", "write_date:max"]})), &Cell::new(0)).unwrap();
        assert_eq!(out, json!([{"__extra_domain": [[1, "=", 1]], "__count": 0, "id:sum": false, "write_date:max": false}]));
    }

    #[test]
    fn formatted_read_group_keys_by_spec() {
        let s = sim(19);
        let m = s.store.model(LINE).unwrap();
        let out = formatted_read_group(&s, m, &kw(json!({"domain": [], "groupby": [], "aggregates": ["__count", "id:sum", "write_date:max", "id:min", "id:count_distinct"]})), &Cell::new(0)).unwrap();
        assert_eq!(out[0]["__count"], 100);
        assert_eq!(out[0]["id:sum"], 5050);
        assert_eq!(out[0]["id:min"], 1);
        assert_eq!(out[0]["id:count_distinct"], 100);
        assert!(out[0]["write_date:max"].is_string());
        let no_count = formatted_read_group(&s, m, &kw(json!({"domain": [], "aggregates": ["id:sum"]})), &Cell::new(0)).unwrap();
        assert!(no_count[0].get("__count").is_none(), "only the aggregates asked for");
        assert_eq!(formatted_read_group(&s, m, &kw(json!({"domain": [], "aggregates": ["id:sum"], "offset": 1})), &Cell::new(0)).unwrap(), json!([]));
    }

    #[test]
    fn bad_specs_are_value_errors() {
        let s = sim(19);
        let m = s.store.model(ORDER).unwrap();
        assert!(read_group(&s, m, &kw(json!({"domain": [], "fields": ["nope:sum"], "groupby": []})), &Cell::new(0)).is_err());
        assert!(read_group(&s, m, &kw(json!({"domain": [], "fields": ["id:sum"], "groupby": ["state"]})), &Cell::new(0)).is_err());
        assert!(formatted_read_group(&s, m, &kw(json!({"domain": [], "aggregates": ["id"]})), &Cell::new(0)).is_err());
        assert!(formatted_read_group(&s, m, &kw(json!({"domain": [], "aggregates": ["name:sum"]})), &Cell::new(0)).is_err());
        // A plain numeric field sums; a plain other field adds nothing.
        let out = read_group(&s, m, &kw(json!({"domain": [], "fields": ["priority", "name"], "groupby": []})), &Cell::new(0)).unwrap();
        assert!(out[0]["priority"].is_i64() && out[0].get("name").is_none());
    }
}
