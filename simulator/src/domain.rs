//! Odoo domains: prefix `&`, `|`, `!` over `[field, operator, value]` leaves, with an implicit `&`
//! between consecutive terms. Datetimes are kept at microseconds and sent at seconds, and the
//! comparison between the two changed in Odoo 19:
//!
//! * 18 compares the microseconds with the second-precision string: `write_date = '<a value Odoo
//!   returned>'` matches nothing, and `>` matches the record again;
//! * 19 compares at whole seconds: `> X` is `>= X + 1 s`, `<= X` is `< X + 1 s`, `=`/`in X` is
//!   `[X, X + 1 s)`; `>=` and `<` are unchanged (`odoo/orm/domains.py`, `_optimize_type_datetime`).
//!
//! A [`Query`] finds a domain's records through the model's indexes: the `id` and `write_date`
//! leaves of its top-level `&` bound an id range and a write_date window, and only the records
//! within them are filtered by the whole domain, so that a page, a count or a fingerprint costs
//! what it answers, not what the model holds.
use serde_json::{Map, Value};
use std::cell::Cell;
use std::cmp::Ordering;

use crate::data::{parse_datetime, Model, Rec, Store, Sums};

#[derive(Debug, Clone)]
pub enum Domain {
    True,
    And(Box<Domain>, Box<Domain>),
    Or(Box<Domain>, Box<Domain>),
    Not(Box<Domain>),
    Leaf { field: String, op: String, value: Value },
}

/// One microsecond and one second, the granularities datetimes compare at (before 19, from 19).
const MICROSECOND: i64 = 1;
const SECOND: i64 = 1_000_000;

/// The records a domain selects, as Odoo's `_search` would: every field it names must exist;
/// archived records are hidden unless the context or the domain says otherwise. Each record
/// looked at, through an index or by the filter, counts in `visited`.
pub struct Query<'a> {
    pub domain: Domain,
    store: &'a Store,
    model: &'a Model,
    /// The server compares datetimes at whole seconds (19+).
    whole_seconds: bool,
    hide_archived: bool,
    /// The ids the domain can select, both included.
    ids: (i64, i64),
    /// The write_date window `[from, to)` in microseconds the domain bounds, if it does.
    window: Option<(i64, i64)>,
    /// The domain is nothing but the id range: the index's sums answer it.
    only_ids: bool,
    visited: &'a Cell<u64>,
}

impl<'a> Query<'a> {
    pub fn new(store: &'a Store, model: &'a Model, whole_seconds: bool, domain: &Value, kwargs: &Map<String, Value>, visited: &'a Cell<u64>) -> Result<Query<'a>, String> {
        let dom = parse(domain)?;
        let mut used = Vec::new();
        dom.fields(&mut used);
        for f in &used {
            if model.field(f).is_none() {
                return Err(format!("Invalid field {}.{f} in leaf", model.name));
            }
        }
        let hide_archived = model.has_active() && active_test(kwargs) && !used.iter().any(|f| f == "active");
        let mut q = Query { domain: Domain::True, store, model, whole_seconds, hide_archived, ids: (i64::MIN, i64::MAX), window: None, only_ids: true, visited };
        q.bound(&dom);
        q.domain = dom;
        Ok(q)
    }

    /// Narrow the id range and the window by the leaves of `d`'s top-level `&`.
    fn bound(&mut self, d: &Domain) {
        let unit = if self.whole_seconds { SECOND } else { MICROSECOND };
        let narrow = |(lo, hi): (i64, i64), (from, to): (i64, i64)| (lo.max(from), hi.min(to));
        match d {
            Domain::True => {}
            Domain::And(a, b) => {
                self.bound(a);
                self.bound(b);
            }
            Domain::Leaf { field, op, value } if field == "id" && op == "in" => {
                self.only_ids = false;
                // Only integers can equal an id as a bound sees it; a list of anything else is
                // left to the filter.
                if let Some(list) = value.as_array().and_then(|l| l.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>()) {
                    let span = list.iter().fold((i64::MAX, i64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
                    self.ids = narrow(self.ids, span);
                }
            }
            Domain::Leaf { field, op, value } if field == "id" => match value.as_i64().and_then(|x| interval(op, x, 1)) {
                Some((from, to)) => self.ids = narrow(self.ids, (from, to.saturating_sub(1))),
                None => self.only_ids = false,
            },
            Domain::Leaf { field, op, value } if field == "write_date" => {
                self.only_ids = false;
                if let Some(w) = value.as_str().and_then(parse_datetime).and_then(|x| interval(op, x, unit)) {
                    self.window = Some(narrow(self.window.unwrap_or((i64::MIN, i64::MAX)), w));
                }
            }
            _ => self.only_ids = false,
        }
    }

    fn visit(&self) {
        self.visited.set(self.visited.get() + 1);
    }

    fn accepts(&self, id: i64, r: &Rec) -> bool {
        self.visit();
        (!self.hide_archived || r.active) && !self.model.hidden.contains(&id) && self.domain.matches(self.store, self.model, id, r, self.whole_seconds)
    }

    /// The count, id sum and newest write_date of the records, when the domain is an id range
    /// alone (the index has them) and no record rule hides any record; None otherwise.
    pub fn sums(&self) -> Option<Sums> {
        (self.only_ids && self.model.hidden.is_empty()).then(|| self.model.sums(self.ids, self.hide_archived, || self.visit()))
    }

    pub fn count(&self) -> u64 {
        self.sums().map_or_else(|| self.rows(false, None).count() as u64, |s| s.count)
    }

    /// The records in the id range, in id order (`desc`: highest first), not yet filtered.
    fn id_range(&self, desc: bool) -> Box<dyn Iterator<Item = (i64, &'a Rec)> + 'a> {
        let (lo, hi) = self.ids;
        if lo > hi {
            return Box::new(std::iter::empty());
        }
        let range = self.model.records().range(lo..=hi).map(|(id, r)| (*id, r));
        if desc {
            Box::new(range.rev())
        } else {
            Box::new(range)
        }
    }

    /// The records selected, in id order (`desc`: highest first). `want`: how many the caller
    /// will take at most (None: all). With a write_date window, the id range is walked beside the
    /// window's index until either is done (the id range: once `want` records matched), and the
    /// one done first serves: a request looks at two to three times what the smaller holds.
    pub fn rows(&self, desc: bool, want: Option<usize>) -> Box<dyn Iterator<Item = (i64, &'a Rec)> + '_> {
        let by_id = move || self.id_range(desc).filter(move |(id, r)| self.accepts(*id, r));
        let Some(window) = self.window else { return Box::new(by_id()) };
        if want == Some(0) {
            return Box::new(std::iter::empty());
        }
        let (lo, hi) = self.ids;
        let mut written = self.model.written(window);
        let mut ids = self.id_range(desc);
        let (mut found, mut in_window) = (Vec::new(), Vec::new());
        loop {
            let Some((id, r)) = ids.next() else {
                return if want.is_some() { Box::new(found.into_iter()) } else { Box::new(by_id()) };
            };
            match want {
                Some(k) if self.accepts(id, r) => {
                    found.push((id, r));
                    if found.len() >= k {
                        return Box::new(found.into_iter());
                    }
                }
                Some(_) => {}
                None => self.visit(),
            }
            let Some((_, id)) = written.next() else { break };
            self.visit();
            if lo <= id && id <= hi {
                in_window.push(id);
            }
        }
        in_window.sort_unstable_by(|a, b| if desc { b.cmp(a) } else { a.cmp(b) });
        let records = self.model.records();
        Box::new(in_window.into_iter().map(move |id| (id, &records[&id])).filter(move |(id, r)| self.accepts(*id, r)))
    }
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

/// The values `op x` accepts, as a half-open interval, when values compare at `unit` granularity
/// (`x` names `[x, x + unit)`): an integer id at 1, a datetime at 1 µs before Odoo 19 and at
/// 1 s from 19. None for the operators that select no one interval (`!=`, `in`, `not in`).
fn interval(op: &str, x: i64, unit: i64) -> Option<(i64, i64)> {
    let next = x.saturating_add(unit);
    Some(match op {
        "=" => (x, next),
        ">" => (next, i64::MAX),
        ">=" => (x, i64::MAX),
        "<" => (i64::MIN, x),
        "<=" => (i64::MIN, next),
        _ => return None,
    })
}

/// Odoo 19: a datetime leaf compares the record's time with the second `[X, X + 1 s)` its value
/// names.
fn whole_second_leaf(t: i64, op: &str, value: &Value) -> bool {
    let second = |v: &Value| v.as_str().and_then(parse_datetime);
    let accepts = |op: &str, x: i64| interval(op, x, SECOND).is_some_and(|(from, to)| from <= t && t < to);
    match (op, second(value)) {
        ("in" | "not in", _) => value.as_array().is_some_and(|l| l.iter().filter_map(second).any(|x| accepts("=", x))) == (op == "in"),
        (_, None) => false,
        ("!=", Some(x)) => !accepts("=", x),
        (_, Some(x)) => accepts(op, x),
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
        orders.records().iter().filter(|(id, r)| d.matches(store, orders, **id, r, whole_seconds)).map(|(id, _)| *id).collect()
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
        let shown = fmt_datetime(s.model(ORDER).unwrap().records()[&1].write_us);
        assert!(ids(&s, json!([["write_date", "=", shown]])).is_empty());
        assert_eq!(ids(&s, json!([["write_date", ">", shown]])), vec![1, 2, 3]);
    }

    #[test]
    fn odoo_19_compares_datetimes_at_whole_seconds() {
        // Orders 1 to 3 share one second (a batch create), at distinct microseconds.
        let s = Store::new(1, 3, 0);
        let shown = fmt_datetime(s.model(ORDER).unwrap().records()[&1].write_us);
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
