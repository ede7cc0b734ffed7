//! The fingerprint of a set of records: how many, the sum of their ids, the newest write_date,
//! in one small answer (`read_group` or `formatted_read_group` with no groupby). Two sets with
//! the same fingerprint hold the same records written no later, whatever their size: what lets a
//! quiet run ask one small question per model instead of listing every pair of a window.
//!
//! What a fingerprint cannot see: a record rewritten with a write_date no newer than the set's
//! newest and the same id (a late commit inside the set), or rewritten within the same second.
use serde_json::{json, Map, Value};

use super::call::ReadCall;
use super::methods::ReadMethod;
use super::time::OdooTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub count: i64,
    pub id_sum: i64,
    pub newest: Option<OdooTime>,
}

/// Which method a server answers fingerprints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Odoo 19 and later with the `web` addon (every real deployment; Odoo Online 19.1 and later
    /// have only this one).
    FormattedReadGroup,
    /// Odoo 16 to 19 (deprecated in 19).
    ReadGroup,
}

/// What a server is known to answer fingerprints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Not tried yet.
    Unknown,
    /// Neither method: the engine lists instead.
    None,
    With(Method),
}

impl Support {
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Support::Unknown => None,
            Support::None => Some("none"),
            Support::With(Method::FormattedReadGroup) => Some("formatted_read_group"),
            Support::With(Method::ReadGroup) => Some("read_group"),
        }
    }

    pub fn parse(s: Option<&str>) -> Support {
        match s {
            Some("none") => Support::None,
            Some("formatted_read_group") => Support::With(Method::FormattedReadGroup),
            Some("read_group") => Support::With(Method::ReadGroup),
            _ => Support::Unknown,
        }
    }
}

impl Method {
    /// The call for the records of `model` in `domain`, archived included; with the newest
    /// write_date when `newest` (a model without write_date has none to ask for).
    pub fn call(self, model: &str, domain: &Value, newest: bool) -> ReadCall {
        let context = json!({"active_test": false});
        let newest: &[&str] = if newest { &["write_date:max"] } else { &[] };
        let aggregates = [&["__count", "id:sum"][..], newest].concat();
        let fields = [&["id:sum"][..], newest].concat();
        match self {
            Method::FormattedReadGroup => ReadCall::new(
                model,
                ReadMethod::FormattedReadGroup,
                Some(domain.clone()),
                json!({"groupby": [], "aggregates": aggregates, "context": context}),
            ),
            Method::ReadGroup => ReadCall::new(
                model,
                ReadMethod::ReadGroup,
                Some(domain.clone()),
                json!({"fields": fields, "groupby": [], "lazy": false, "context": context}),
            ),
        }
    }

    /// The fingerprint in an answer: one group, whose keys are the aggregates' names
    /// (`read_group`: `id`, `write_date`) or specs (`formatted_read_group`: `id:sum`, ...).
    /// An empty set answers `false` for the sum and the newest.
    pub fn parse(self, answer: &Value) -> Option<Fingerprint> {
        let group: &Map<String, Value> = answer.as_array()?.first()?.as_object()?;
        let (sum_key, newest_key) = match self {
            Method::FormattedReadGroup => ("id:sum", "write_date:max"),
            Method::ReadGroup => ("id", "write_date"),
        };
        let count = group.get("__count")?.as_i64()?;
        let id_sum = match group.get(sum_key)? {
            Value::Bool(false) | Value::Null => 0,
            // A sum sent as a float must be a whole number a sum of ids can be: anything else
            // is no fingerprint.
            v => v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(whole))?,
        };
        let newest = match group.get(newest_key) {
            Some(Value::String(s)) => Some(OdooTime::parse(s)?),
            _ => None,
        };
        Some(Fingerprint { count, id_sum, newest })
    }
}

/// A whole float well within i64's range (checked by the caller) as that integer.
#[allow(clippy::cast_possible_truncation)]
fn whole(f: f64) -> i64 {
    f as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_both_methods_from_the_real_wire_and_empty_sets() {
        // core/fixtures/odoo19/43_read_group_fingerprint.txt
        let rg = json!([{"__count": 9985, "id": 49916930, "write_date": "2026-11-29 03:10:02", "__domain": [[1, "=", 1]]}]);
        let fp = Method::ReadGroup.parse(&rg).unwrap();
        assert_eq!((fp.count, fp.id_sum, fp.newest.map(|t| t.to_string())), (9985, 49916930, Some("2026-11-29 03:10:02".into())));
        let frg = json!([{"__extra_domain": [[1, "=", 1]], "__count": 3, "id:sum": 6, "write_date:max": "2026-01-01 00:00:00"}]);
        assert_eq!(Method::FormattedReadGroup.parse(&frg).unwrap().id_sum, 6);
        let empty = json!([{"__count": 0, "id": false, "write_date": false, "__domain": []}]);
        assert_eq!(Method::ReadGroup.parse(&empty), Some(Fingerprint { count: 0, id_sum: 0, newest: None }));
        assert_eq!(Method::ReadGroup.parse(&json!([])), None);
        assert_eq!(Method::ReadGroup.parse(&frg), None, "the other method's shape");
    }

    #[test]
    fn what_a_server_answers_is_kept_as_text() {
        for s in [Support::None, Support::With(Method::FormattedReadGroup), Support::With(Method::ReadGroup)] {
            assert_eq!(Support::parse(s.as_str()), s);
        }
        assert_eq!(Support::parse(None), Support::Unknown);
    }
}
