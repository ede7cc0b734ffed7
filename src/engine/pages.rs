//! Converting a page of Odoo records and writing it, with its counters, in one transaction.
use pgrx::prelude::*;
use scrap_sga_core::mapping::{self, ModelPlan};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Instant;

use super::apply::{PageCounts, Upsert};
use super::Outcome;
use crate::errors::{state, SyncError};
use crate::txn;

pub struct PageWriter<'a> {
    pub model: &'a str,
    pub plan: &'a ModelPlan,
    pub upsert: Upsert,
    pub run_id: i64,
    /// Highest `write_date` seen, as Odoo writes it (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub max_write_date: Option<String>,
    pub pages: usize,
}

impl<'a> PageWriter<'a> {
    pub fn new(model: &'a str, plan: &'a ModelPlan, schema: &str, table: &str, run_id: i64, cursor: Option<String>) -> Self {
        PageWriter { model, plan, upsert: Upsert::new(schema, table, plan), run_id, max_write_date: cursor, pages: 0 }
    }

    pub fn note_write_date(&mut self, rec: &Map<String, Value>) {
        if let Some(wd) = rec.get("write_date").and_then(Value::as_str) {
            if self.max_write_date.as_deref().is_none_or(|m| wd > m) {
                self.max_write_date = Some(wd.to_owned());
            }
        }
    }

    /// Convert and write one page; commits it with the run's counters.
    pub fn write(&mut self, page: Vec<Map<String, Value>>, out: &mut Outcome) -> Result<PageCounts, SyncError> {
        self.pages += 1;
        let n = page.len() as i64;
        let mut rows: BTreeMap<i64, Map<String, Value>> = BTreeMap::new();
        for rec in &page {
            let id = rec.get("id").and_then(Value::as_i64).ok_or_else(|| {
                SyncError::new(state::PROTOCOL_VIOLATION, format!("{}: page {}: a record without an integer id", self.model, self.pages))
            })?;
            self.note_write_date(rec);
            let converted = mapping::convert_record(self.plan, rec)
                .map_err(|e| SyncError::from_convert(&e).context(format!("{}: record {id}", self.model)))?;
            rows.insert(id, converted);
        }
        drop(page);
        let (first, last) = (rows.keys().next().copied().unwrap_or(0), rows.keys().last().copied().unwrap_or(0));
        let doc = serde_json::to_string(&rows.into_values().collect::<Vec<_>>()).expect("JSON values serialize");
        let t0 = Instant::now();
        let (upsert, run_id, model, page_no) = (&self.upsert, self.run_id, self.model, self.pages);
        let counts = txn::run(|| {
            // A page need not wait for its WAL flush: the run's last transaction, which moves the
            // cursor, commits synchronously, and WAL is flushed in order, so once the cursor is
            // durable every page before it is too. A crash loses at most pages the next run redoes.
            Spi::run("SET LOCAL synchronous_commit TO off")?;
            let counts = upsert
                .apply(&doc, run_id)
                .map_err(|e| e.context(format!("{model}: writing page {page_no} (ids {first} to {last})")))?;
            Spi::connect_mut(|c| {
                c.update(
                    "UPDATE scrap_sga.sync_run SET fetched = fetched + $2, inserted = inserted + $3, updated = updated + $4,
                            restored = restored + $5, pages = pages + 1 WHERE run_id = $1",
                    None,
                    &[run_id.into(), n.into(), counts.inserted.into(), counts.updated.into(), counts.restored.into()],
                )
                .map(|_| ())
            })?;
            Ok(counts)
        })?;
        out.db_secs += t0.elapsed().as_secs_f64();
        out.fetched += n;
        out.written += counts.inserted + counts.updated + counts.restored;
        Ok(counts)
    }
}
