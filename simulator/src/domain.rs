//! Odoo domains: prefix `&`, `|`, `!` over `[field, operator, value]` leaves, with an implicit `&`
//! between consecutive terms. Datetimes are kept at microseconds and sent at seconds, and the
//! comparison between the two changed in Odoo 19:
//!
//! * 18 compares the microseconds with the second-precision string: `write_date = '<a value Odoo
//!   returned>'` matches nothing, and `>` matches the record again;
//! * 19 compares at whole seconds: `> X` is `>= X + 1 s`, `<= X` is `< X + 1 s`, `=`/`in X` is
//!   `[X, X + 1 s)`; `>=` and `<` are unchanged (`odoo/orm/domains.py`, `_optimize_type_datetime`).
use serde_json::{Map, Value};
use std::cmp::Ordering;

use crate::data::{parse_datetime, Model, Rec, Store};

#[derive(Debug, Clone)]
pub enum Domain {
    True,
    And(Box<Domain>, Box<Domain>),
    Or(Box<Domain>, Box<Domain>),
    Not(Box<Domain>),
    Leaf { field: String, op: String, value: Value },
}

/// The records a domain selects, in id order, as Odoo's `_search` would: every field it names
/// must exist; archived records are hidden unless the context or the domain says otherwise.
/// `whole_seconds`: the server compares datetimes at whole seconds (19+).
pub fn matching<'a>(store: &'a Store, model: &'a Model, whole_seconds: bool, domain: &Value, kwargs: &Map<String, Value>) -> Result<(Domain, impl Iterator<Item = (i64, &'a Rec)> + 'a), String> {
    let dom = parse(domain)?;
    let mut used = Vec::new();
    dom.fields(&mut used);
    for f in &used {
        if model.field(f).is_none() {
            return Err(format!("Invalid field {}.{f} in leaf", model.name));
        }
    }
    let hide_archived = model.has_active() && active_test(kwargs) && !used.iter().any(|f| f == "active");
    let filter = dom.clone();
    let records = model.records.iter().filter(move |(id, r)| (!hide_archived || r.active) && filter.matches(store, model, **id, r, whole_seconds)).map(|(id, r)| (*id, r));
    Ok((dom, records))
}

/// Whether archived records are hidden: unless the context says `active_test: false`.
fn active_test(kwargs: &Map<String, Value>) -> bool {
    kwargs.get("context").and_then(|c| c.get("active_test")).and_then(Value::as_bool).unwrap_or(true)
}

pub fn parse(v: &Value) -> Result<Domain, String> {
    let items = match v {
        Value::Array(a) => a.as_slice(),
        Value::Null => &[],
        _ => return Err("a domain is a list".into()),
    };
    let mut pos = 0;
    let mut terms = Vec::new();
    while pos < items.len() {
        terms.push(term(items, &mut pos)?);
    }
    Ok(terms.into_iter().rev().fold(Domain::True, |acc, t| match acc {
        Domain::True => t,
        other => Domain::And(Box::new(t), Box::new(other)),
    }))
}

fn term(items: &[Value], pos: &mut usize) -> Result<Domain, String> {
    let it = items.get(*pos).ok_or("domain ends after an operator")?;
    *pos += 1;
    match it {
        Value::String(op) if op == "&" || op == "|" => {
            let a = term(items, pos)?;
            let b = term(items, pos)?;
            Ok(if op == "&" { Domain::And(Box::new(a), Box::new(b)) } else { Domain::Or(Box::new(a), Box::new(b)) })
        }
        Value::String(op) if op == "!" => Ok(Domain::Not(Box::new(term(items, pos)?))),
        Value::Array(leaf) if leaf.len() == 3 => {
            let field = leaf[0].as_str().ok_or("a leaf's field is a string")?.to_owned();
            let op = leaf[1].as_str().ok_or("a leaf's operator is a string")?.to_owned();
            if !["=", "!=", ">", ">=", "<", "<=", "in", "not in"].contains(&op.as_str()) {
                return Err(format!("Invalid leaf operator {op:?}"));
            }
            Ok(Domain::Leaf { field, op, value: leaf[2].clone() })
        }
        other => Err(format!("Invalid leaf {other}")),
    }
}

impl Domain {
    /// The domain in Odoo 19's normalized prefix form (`list(Domain(...))`): `[[1, "=", 1]]`
    /// for no condition, every `&` written out.
    pub fn to_json(&self) -> Value {
        let mut out = Vec::new();
        self.prefix(&mut out);
        Value::Array(out)
    }

    fn prefix(&self, out: &mut Vec<Value>) {
        match self {
            Domain::True => out.push(serde_json::json!([1, "=", 1])),
            Domain::And(a, b) | Domain::Or(a, b) => {
                out.push(Value::from(if matches!(self, Domain::And(..)) { "&" } else { "|" }));
                a.prefix(out);
                b.prefix(out);
            }
            Domain::Not(a) => {
                out.push(Value::from("!"));
                a.prefix(out);
            }
            Domain::Leaf { field, op, value } => out.push(serde_json::json!([field, op, value])),
        }
    }

    pub fn fields(&self, out: &mut Vec<String>) {
        match self {
            Domain::True => {}
            Domain::And(a, b) | Domain::Or(a, b) => {
                a.fields(out);
                b.fields(out);
            }
            Domain::Not(a) => a.fields(out),
            Domain::Leaf { field, .. } => out.push(field.clone()),
        }
    }

    /// `whole_seconds`: Odoo 19's datetime comparison (see the module's comment).
    pub fn matches(&self, store: &Store, model: &Model, id: i64, rec: &Rec, whole_seconds: bool) -> bool {
        match self {
            Domain::True => true,
            Domain::And(a, b) => a.matches(store, model, id, rec, whole_seconds) && b.matches(store, model, id, rec, whole_seconds),
            Domain::Or(a, b) => a.matches(store, model, id, rec, whole_seconds) || b.matches(store, model, id, rec, whole_seconds),
            Domain::Not(a) => !a.matches(store, model, id, rec, whole_seconds),
            Domain::Leaf { field, op, value } => leaf(store, model, id, rec, field, op, value, whole_seconds),
        }
    }
}

/// The value a leaf compares against; many2one compares by id, datetimes by microseconds.
enum Key {
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
}

fn record_key(store: &Store, model: &Model, id: i64, rec: &Rec, field: &str) -> Key {
    match field {
        "id" => Key::Num(id as f64),
        "write_date" => Key::Num(rec.write_us as f64),
        "create_date" => Key::Num(rec.create_us as f64),
        "active" => Key::Bool(rec.active),
        _ => {
            let f = model.field(field).expect("checked before evaluation");
            match store.value(model, id, rec, f) {
                Value::Array(a) if f.ftype == "many2one" => a.first().and_then(Value::as_f64).map(Key::Num).unwrap_or(Key::Null),
                Value::Number(n) => Key::Num(n.as_f64().unwrap_or(0.0)),
                Value::String(s) if f.ftype == "datetime" || f.ftype == "date" => parse_datetime(&s).map(|u| Key::Num(u as f64)).unwrap_or(Key::Null),
                Value::String(s) => Key::Str(s),
                Value::Bool(b) if f.ftype == "boolean" => Key::Bool(b),
                _ => Key::Null,
            }
        }
    }
}

fn value_key(field_is_time: bool, v: &Value) -> Key {
    match v {
        Value::Number(n) => Key::Num(n.as_f64().unwrap_or(0.0)),
        Value::String(s) if field_is_time => parse_datetime(s).map(|u| Key::Num(u as f64)).unwrap_or(Key::Null),
        Value::String(s) => Key::Str(s.clone()),
        Value::Bool(false) | Value::Null => Key::Null,
        Value::Bool(b) => Key::Bool(*b),
        _ => Key::Null,
    }
}

fn cmp(a: &Key, b: &Key) -> Option<Ordering> {
    match (a, b) {
        (Key::Num(x), Key::Num(y)) => x.partial_cmp(y),
        (Key::Str(x), Key::Str(y)) => Some(x.cmp(y)),
        (Key::Bool(x), Key::Bool(y)) => Some(x.cmp(y)),
        (Key::Null, Key::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn leaf(store: &Store, model: &Model, id: i64, rec: &Rec, field: &str, op: &str, value: &Value, whole_seconds: bool) -> bool {
    let is_datetime = matches!(field, "write_date" | "create_date") || model.field(field).is_some_and(|f| f.ftype == "datetime");
    let is_time = is_datetime || model.field(field).is_some_and(|f| f.ftype == "date");
    let have = record_key(store, model, id, rec, field);
    if whole_seconds && is_datetime {
        if let Key::Num(t) = have {
            return whole_second_leaf(t as i64, op, value);
        }
    }
    // `active = False` style leaves compare booleans as booleans.
    let want = |v: &Value| match (v, &have) {
        (Value::Bool(b), Key::Bool(_)) => Key::Bool(*b),
        _ => value_key(is_time, v),
    };
    match op {
        "in" | "not in" => {
            let list = value.as_array().cloned().unwrap_or_default();
            let found = list.iter().any(|v| cmp(&have, &want(v)) == Some(Ordering::Equal));
            found == (op == "in")
        }
        _ => {
            let o = cmp(&have, &want(value));
            match op {
                "=" => o == Some(Ordering::Equal),
                "!=" => o != Some(Ordering::Equal),
                ">" => o == Some(Ordering::Greater),
                ">=" => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
                "<" => o == Some(Ordering::Less),
                "<=" => matches!(o, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
    }
}

/// Odoo 19: a datetime leaf compares the record's time with the second `[X, X + 1 s)` its value
/// names.
fn whole_second_leaf(t: i64, op: &str, value: &Value) -> bool {
    let second = |v: &Value| v.as_str().and_then(parse_datetime);
    let within = |v: &Value| second(v).is_some_and(|x| x <= t && t < x + 1_000_000);
    match op {
        "in" | "not in" => value.as_array().is_some_and(|l| l.iter().any(within)) == (op == "in"),
        _ => {
            let Some(x) = second(value) else { return false };
            match op {
                "=" => within(value),
                "!=" => !within(value),
                ">" => t >= x + 1_000_000,
                ">=" => t >= x,
                "<" => t < x,
                "<=" => t < x + 1_000_000,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{fmt_datetime, Store, ORDER};
    use serde_json::json;

    fn ids(store: &Store, d: Value) -> Vec<i64> {
        ids_as(store, d, false)
    }

    fn ids_as(store: &Store, d: Value, whole_seconds: bool) -> Vec<i64> {
        let d = parse(&d).unwrap();
        let orders = store.model(ORDER).unwrap();
        orders.records.iter().filter(|(id, r)| d.matches(store, orders, **id, r, whole_seconds)).map(|(id, _)| *id).collect()
    }

    #[test]
    fn prefix_operators_and_implicit_and() {
        let s = Store::new(1, 10, 0);
        assert_eq!(ids(&s, json!([["id", ">", 7]])), vec![8, 9, 10]);
        assert_eq!(ids(&s, json!([["id", ">", 3], ["id", "<", 6]])), vec![4, 5]);
        assert_eq!(ids(&s, json!(["|", ["id", "=", 1], ["id", "in", [9, 10]]])), vec![1, 9, 10]);
        assert_eq!(ids(&s, json!(["!", ["id", "<=", 8]])), vec![9, 10]);
        assert_eq!(ids(&s, json!(["&", ["id", ">=", 2], ["id", "not in", [3, 4, 5, 6, 7, 8, 9, 10]]])), vec![2]);
    }

    #[test]
    fn write_date_equality_never_matches_the_truncated_value() {
        let s = Store::new(1, 3, 0);
        let shown = fmt_datetime(s.model(ORDER).unwrap().records[&1].write_us);
        assert!(ids(&s, json!([["write_date", "=", shown]])).is_empty());
        assert_eq!(ids(&s, json!([["write_date", ">", shown]])), vec![1, 2, 3]);
    }

    #[test]
    fn odoo_19_compares_datetimes_at_whole_seconds() {
        // Orders 1 to 3 share one second (a batch create), at distinct microseconds.
        let s = Store::new(1, 3, 0);
        let shown = fmt_datetime(s.model(ORDER).unwrap().records[&1].write_us);
        assert_eq!(ids_as(&s, json!([["write_date", "=", shown]]), true), vec![1, 2, 3], "= matches the row it was read from");
        assert!(ids_as(&s, json!([["write_date", ">", shown]]), true).is_empty(), "> X is >= X + 1 s");
        assert_eq!(ids_as(&s, json!([["write_date", ">=", shown]]), true), vec![1, 2, 3]);
        assert_eq!(ids_as(&s, json!([["write_date", "<=", shown]]), true), vec![1, 2, 3], "<= X is < X + 1 s");
        assert!(ids_as(&s, json!([["write_date", "<", shown]]), true).is_empty());
        assert_eq!(ids_as(&s, json!([["write_date", "in", [shown.clone()]]]), true), vec![1, 2, 3]);
        assert!(ids_as(&s, json!([["write_date", "!=", shown]]), true).is_empty());
        // And 18, on the same data: the microseconds decide.
        assert!(ids_as(&s, json!([["write_date", "=", shown]]), false).is_empty());
        assert_eq!(ids_as(&s, json!([["write_date", ">", shown]]), false), vec![1, 2, 3]);
        assert!(ids_as(&s, json!([["write_date", "<=", shown]]), false).is_empty());
    }

    #[test]
    fn domains_serialize_in_prefix_form() {
        assert_eq!(parse(&json!([])).unwrap().to_json(), json!([[1, "=", 1]]));
        assert_eq!(parse(&json!([["id", ">", 0], ["id", "<=", 1000]])).unwrap().to_json(), json!(["&", ["id", ">", 0], ["id", "<=", 1000]]));
        assert_eq!(parse(&json!(["|", ["id", "=", 1], "!", ["id", "=", 2]])).unwrap().to_json(), json!(["|", ["id", "=", 1], "!", ["id", "=", 2]]));
    }

    #[test]
    fn bad_operators_are_refused() {
        assert!(parse(&json!([["id", "like", 1]])).is_err());
        assert!(parse(&json!(["&", ["id", "=", 1]])).is_err());
    }
}
