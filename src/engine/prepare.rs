//! A page of records made ready to write: each record converted to the columns of the plan and
//! written out as the JSON text that travels to Postgres, its id and write_date read. Plain Rust,
//! no Postgres call: a stream's parsing thread does it while the backend writes the page before
//! (`streams`), so that the backend's thread only runs the page's statement.
use scrap_sga_core::ids::{record_id, OdooId};
use scrap_sga_core::mapping::{self, ConvertError, ModelPlan};
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A page ready to write.
#[derive(Debug, Default)]
pub struct PreparedPage {
    /// Records Odoo sent.
    pub fetched: usize,
    /// Each record's row, by id: a record sent twice in a page is written once, as last sent.
    pub rows: Vec<Row>,
    /// Records whose values do not fit their columns, with their write_date for the retry queue.
    pub failures: Vec<(OdooId, ConvertError, Option<OdooTime>)>,
    /// The newest write_date of the page.
    pub newest: Option<OdooTime>,
}

/// One record's row: its id, its columns as the JSON text `json_to_recordset` reads (an array of
/// them, [`document`]), and its write_date.
#[derive(Debug)]
pub struct Row {
    pub id: OdooId,
    pub json: String,
    pub written: Option<OdooTime>,
}

/// A record without an integer id that fits: the page cannot be written.
#[derive(Debug)]
pub struct MissingId;

impl std::fmt::Display for MissingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record without an integer id that fits")
    }
}

/// Convert `records` to `plan`'s columns.
pub fn prepare(plan: &ModelPlan, records: Vec<Map<String, Value>>) -> Result<PreparedPage, MissingId> {
    let mut page = PreparedPage { fetched: records.len(), ..Default::default() };
    let mut rows: BTreeMap<OdooId, Row> = BTreeMap::new();
    for rec in &records {
        let id = record_id(rec).ok_or(MissingId)?;
        let written = OdooTime::write_date_of(rec);
        page.newest = page.newest.max(written);
        match mapping::convert_record(plan, rec) {
            Ok(row) => {
                rows.insert(id, Row { id, json: Value::Object(row).to_string(), written });
            }
            Err(e) => page.failures.push((id, e, written)),
        }
    }
    page.rows = rows.into_values().collect();
    Ok(page)
}

/// Rows as the JSON array `json_to_recordset` reads.
pub fn document(rows: &[Row]) -> String {
    let mut doc = String::with_capacity(rows.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
    doc.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&row.json);
    }
    doc.push(']');
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrap_sga_core::mapping::{plan_model, Choices, OdooField};
    use serde_json::json;

    fn field(name: &str, ftype: &str) -> OdooField {
        OdooField { name: name.into(), ftype: ftype.into(), store: true, ..Default::default() }
    }

    #[test]
    fn a_page_is_converted_by_id_with_its_failures_set_apart() {
        let plan = plan_model(&[field("id", "integer"), field("qty", "integer"), field("write_date", "datetime")], &Choices::default()).unwrap();
        let records: Vec<Map<String, Value>> = [
            json!({"id": 9, "qty": 1, "write_date": "2026-01-01 10:00:00"}),
            json!({"id": 3, "qty": "not a number", "write_date": "2026-01-01 10:00:05"}),
            json!({"id": 2, "qty": 7, "write_date": false}),
            json!({"id": 9, "qty": 2, "write_date": "2026-01-01 10:00:01"}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let page = prepare(&plan, records).unwrap();
        assert_eq!(page.fetched, 4);
        let ids: Vec<i32> = page.rows.iter().map(|r| r.id.get()).collect();
        assert_eq!(ids, vec![2, 9], "in id order, once each");
        assert_eq!(page.failures.len(), 1);
        assert_eq!(page.failures[0].0.get(), 3);
        assert_eq!(page.newest, OdooTime::parse("2026-01-01 10:00:05"));
        let doc: Value = serde_json::from_str(&document(&page.rows)).unwrap();
        assert_eq!(doc, json!([{"id": 2, "qty": 7, "write_date": null}, {"id": 9, "qty": 2, "write_date": "2026-01-01 10:00:01+00"}]));
        assert!(prepare(&plan, vec![json!({"qty": 1}).as_object().unwrap().clone()]).is_err(), "a record without an id");
        assert_eq!(document(&[]), "[]");
    }
}
