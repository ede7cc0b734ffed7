//! Odoo record ids, and ranges of them.
//!
//! Odoo's ids are PostgreSQL `integer`s in its own database (`id serial`), and so are the
//! mirror's: an id is an [`OdooId`] (an `i32` inside) everywhere, made in one place from what
//! Odoo sends ([`OdooId::from_json`]) or from a mirror's `integer` column ([`OdooId::from_column`]),
//! and a value that does not fit is refused where it comes in, never truncated.
use serde_json::{json, Map, Value};

/// The id of one Odoo record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OdooId(i32);

impl OdooId {
    /// An id as Odoo sent it in JSON (`17`), if it is one: an integer that fits an `integer`.
    pub fn from_json(v: &Value) -> Option<OdooId> {
        v.as_i64().and_then(|i| i32::try_from(i).ok()).map(OdooId)
    }

    /// An id read from a mirror's `integer` column (or the catalog's): the column holds ids.
    pub fn from_column(i: i32) -> OdooId {
        OdooId(i)
    }

    /// As the mirror's `integer` column holds it.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for OdooId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for OdooId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.0)
    }
}

/// The id of a record as Odoo sent it (`"id": 17`), if it is one.
pub fn record_id(rec: &Map<String, Value>) -> Option<OdooId> {
    rec.get("id").and_then(OdooId::from_json)
}

/// An id range of a model: `lo < id`, and `id <= hi` when there is a `hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub lo: i32,
    pub hi: Option<i32>,
}

impl IdRange {
    pub const ALL: IdRange = IdRange { lo: 0, hi: None };

    /// The ids after `id`, up to `hi` (open-ended without one).
    pub fn after(id: OdooId, hi: Option<OdooId>) -> IdRange {
        IdRange { lo: id.0, hi: hi.map(|h| h.0) }
    }

    /// Whether `id` is in the range.
    pub fn contains(&self, id: OdooId) -> bool {
        id.0 > self.lo && self.hi.is_none_or(|h| id.0 <= h)
    }

    /// The same range as an Odoo domain.
    pub fn domain(&self) -> Value {
        self.domain_with(&[])
    }

    /// `conditions` and the range, as one Odoo domain.
    pub fn domain_with(&self, conditions: &[Value]) -> Value {
        let mut d = conditions.to_vec();
        d.push(json!(["id", ">", self.lo]));
        if let Some(hi) = self.hi {
            d.push(json!(["id", "<=", hi]));
        }
        Value::Array(d)
    }

    /// The same range as SQL on `column` (constants only: both ends are integers).
    pub fn sql(&self, column: &str) -> String {
        match self.hi {
            Some(hi) => format!("{column} > {} AND {column} <= {hi}", self.lo),
            None => format!("{column} > {}", self.lo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_domains_and_sql() {
        assert_eq!(IdRange::ALL.domain(), json!([["id", ">", 0]]));
        let r = IdRange { lo: 10, hi: Some(20) };
        assert_eq!(r.domain(), json!([["id", ">", 10], ["id", "<=", 20]]));
        assert_eq!(r.sql("t.id"), "t.id > 10 AND t.id <= 20");
        assert_eq!(IdRange::ALL.sql("id"), "id > 0");
        let since = json!(["write_date", ">=", "2026-01-01 00:00:00"]);
        assert_eq!(r.domain_with(std::slice::from_ref(&since)), json!([since, ["id", ">", 10], ["id", "<=", 20]]));
    }

    #[test]
    fn ids_that_do_not_fit_are_not_ids() {
        let rec = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(record_id(&rec(json!({"id": 7}))), Some(OdooId(7)));
        assert_eq!(record_id(&rec(json!({"id": 3_000_000_000i64}))), None);
        assert_eq!(record_id(&rec(json!({"id": "7"}))), None);
        assert_eq!(record_id(&rec(json!({}))), None);
    }
}
