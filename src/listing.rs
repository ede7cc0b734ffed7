//! Odoo's `(id, write_date)` pairs, as SQL reads them: the window's listing, reconcile's,
//! verify's. One document format and one way to read it, for every comparison with the mirror.
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::{json, Value};


/// What SQL reads a listing document `$1` with: rows `o(id, write_date)`.
pub const PAIRS: &str = "json_to_recordset($1::json) AS o(id integer, write_date timestamptz)";

/// A page of pairs as one JSON document for [`PAIRS`]. Odoo's datetimes are UTC without a zone:
/// the document says so (`Z`), or Postgres would read them in the session's time zone.
pub fn pairs_document(records: &[serde_json::Map<String, Value>]) -> String {
    let pairs: Vec<Value> = records
        .iter()
        .map(|r| {
            let wd = r.get("write_date").and_then(Value::as_str).and_then(OdooTime::parse).map(|t| format!("{t}Z"));
            json!({"id": r.get("id"), "write_date": wd})
        })
        .collect();
    serde_json::to_string(&pairs).expect("JSON values serialize")
}
