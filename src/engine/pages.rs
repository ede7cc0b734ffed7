//! Converting a page of Odoo records and writing it, with its counters, in one transaction.
//!
//! A record that cannot be stored (a value of the wrong shape, or one Postgres refuses: SQLSTATE
//! classes 22 and 23) must not block its page: the page is split in halves until the culprits
//! are alone, the rest is written, and the culprits go to scrap_sga.failed_record for a retry.
use pgrx::prelude::*;
use scrap_sga_core::mapping::{self, ModelPlan};
use serde_json::{Map, Value};
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
    /// Records per `read` or `search_read`.
    pub page_size: usize,
    /// Highest `write_date` seen, as Odoo writes it (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub max_write_date: Option<String>,
    pub pages: usize,
    /// The retry queue may hold records of this model: stored records must leave it.
    pub queue_in_use: bool,
}

/// Keep `scrap_sga.model.live_rows` in step with a write, in the write's own transaction (the
/// deletion check compares it with Odoo's count; NULL until first counted, and it stays so).
fn adjust_live_rows(model: &str, delta: i64) -> Result<(), SyncError> {
    if delta != 0 {
        Spi::run_with_args("UPDATE scrap_sga.model SET live_rows = live_rows + $2 WHERE model = $1", &[model.into(), delta.into()])?;
    }
    Ok(())
}

/// The error is about the record's values, not about the database or the run.
fn is_record_error(e: &SyncError) -> bool {
    matches!(e.sqlstate.class(), "22" | "23")
}

impl<'a> PageWriter<'a> {
    pub fn new(model: &'a str, plan: &'a ModelPlan, schema: &str, table: &str, run_id: i64, page_size: usize, cursor: Option<String>) -> Self {
        PageWriter { model, plan, upsert: Upsert::new(schema, table, plan), run_id, page_size, max_write_date: cursor, pages: 0, queue_in_use: true }
    }

    pub fn note_write_date(&mut self, rec: &Map<String, Value>) {
        if let Some(wd) = rec.get("write_date").and_then(Value::as_str) {
            if self.max_write_date.as_deref().is_none_or(|m| wd > m) {
                self.max_write_date = Some(wd.to_owned());
            }
        }
    }

    /// Convert and write one page; each part commits with the run's counters.
    pub fn write(&mut self, page: Vec<Map<String, Value>>, out: &mut Outcome) -> Result<PageCounts, SyncError> {
        self.pages += 1;
        let fetched = page.len() as i64;
        let mut rows: std::collections::BTreeMap<i64, Map<String, Value>> = Default::default();
        let mut failures: Vec<(i64, SyncError)> = Vec::new();
        for rec in &page {
            let id = rec.get("id").and_then(Value::as_i64).ok_or_else(|| {
                SyncError::new(state::PROTOCOL_VIOLATION, format!("{}: page {}: a record without an integer id", self.model, self.pages))
            })?;
            self.note_write_date(rec);
            match mapping::convert_record(self.plan, rec) {
                Ok(converted) => {
                    rows.insert(id, converted);
                }
                Err(e) => failures.push((id, SyncError::from_convert(&e))),
            }
        }
        drop(page);
        let rows: Vec<(i64, Value)> = rows.into_iter().map(|(id, m)| (id, Value::Object(m))).collect();
        let t0 = Instant::now();
        // The usual case, one transaction: the whole page and its counters.
        let counters_now = failures.is_empty();
        let counts = self.write_isolating(&rows, if counters_now { fetched } else { 0 }, &mut failures)?;
        let counted = counters_now && failures.is_empty();
        if !counted {
            self.record_failures(&failures, fetched)?;
        }
        out.db_secs += t0.elapsed().as_secs_f64();
        out.fetched += fetched;
        out.failed += failures.len() as i64;
        out.written += counts.inserted + counts.updated + counts.restored;
        Ok(counts)
    }

    fn write_isolating(&self, rows: &[(i64, Value)], fetched: i64, failures: &mut Vec<(i64, SyncError)>) -> Result<PageCounts, SyncError> {
        if rows.is_empty() {
            return Ok(PageCounts::default());
        }
        match self.write_part(rows, fetched) {
            Ok(c) => Ok(c),
            Err(e) if is_record_error(&e) && rows.len() == 1 => {
                failures.push((rows[0].0, e));
                Ok(PageCounts::default())
            }
            Err(e) if is_record_error(&e) => {
                let (a, b) = rows.split_at(rows.len() / 2);
                let x = self.write_isolating(a, 0, failures)?;
                let y = self.write_isolating(b, 0, failures)?;
                Ok(PageCounts { inserted: x.inserted + y.inserted, updated: x.updated + y.updated, restored: x.restored + y.restored })
            }
            Err(e) => Err(e),
        }
    }

    /// One transaction: the rows, their counters, and their exit from the retry queue.
    fn write_part(&self, rows: &[(i64, Value)], fetched: i64) -> Result<PageCounts, SyncError> {
        let doc = serde_json::to_string(&rows.iter().map(|(_, v)| v).collect::<Vec<_>>()).expect("JSON values serialize");
        let (first, last) = (rows[0].0, rows[rows.len() - 1].0);
        let (run_id, model, page_no) = (self.run_id, self.model, self.pages);
        txn::in_transaction(|| {
            // A page need not wait for its WAL flush: the run's last transaction, which moves the
            // cursor, commits synchronously, and WAL is flushed in order, so once the cursor is
            // durable every page before it is too. A crash loses at most pages the next run redoes.
            Spi::run("SET LOCAL synchronous_commit TO off")?;
            let counts = self
                .upsert
                .apply(&doc, run_id)
                .map_err(|e| e.context(format!("{model}: writing page {page_no} (ids {first} to {last})")))?;
            Spi::run_with_args(
                "UPDATE scrap_sga.sync_run SET fetched = fetched + $2, inserted = inserted + $3, updated = updated + $4,
                        restored = restored + $5, pages = pages + ($2 > 0)::int WHERE run_id = $1",
                &[run_id.into(), fetched.into(), counts.inserted.into(), counts.updated.into(), counts.restored.into()],
            )?;
            adjust_live_rows(model, counts.inserted + counts.restored)?;
            if self.queue_in_use {
                let ids: Vec<i32> = rows.iter().map(|(id, _)| *id as i32).collect();
                Spi::run_with_args("DELETE FROM scrap_sga.failed_record WHERE model = $1 AND odoo_id = ANY($2)", &[model.into(), ids.into()])?;
            }
            Ok(counts)
        })
    }

    /// Soft-delete the rows of `table` that `condition` selects (SQL on its columns, with the
    /// `n_args` values `args` makes as $1, $2, ...), stamp them with this run, and count them in
    /// the run log. `args` runs inside the transaction: a datum such as an array is allocated in
    /// the transaction's memory, which does not exist before it starts.
    pub fn soft_delete<'d>(
        &self,
        table: &str,
        condition: &str,
        n_args: usize,
        args: impl FnOnce() -> Vec<pgrx::datum::DatumWithOid<'d>>,
        out: &mut Outcome,
    ) -> Result<i64, SyncError> {
        let run_id = self.run_id;
        let sql = format!(
            "WITH d AS (UPDATE {table} SET sga_deleted_at = now(), sga_synced_at = now(), sga_run_id = ${}
                        WHERE sga_deleted_at IS NULL AND ({condition}) RETURNING 1)
             SELECT count(*) FROM d",
            n_args + 1
        );
        let deleted = txn::in_transaction(|| {
            let mut args = args();
            args.push(run_id.into());
            let n = Spi::get_one_with_args::<i64>(&sql, &args)?.unwrap_or(0);
            Spi::run_with_args("UPDATE scrap_sga.sync_run SET deleted = deleted + $2 WHERE run_id = $1", &[run_id.into(), n.into()])?;
            adjust_live_rows(self.model, -n)?;
            Ok(n)
        })?;
        out.deleted += deleted;
        out.written += deleted;
        Ok(deleted)
    }

    /// Queue the records that could not be stored, and count the page.
    fn record_failures(&mut self, failures: &[(i64, SyncError)], fetched: i64) -> Result<(), SyncError> {
        let (run_id, model) = (self.run_id, self.model);
        let ids: Vec<i32> = failures.iter().map(|(id, _)| *id as i32).collect();
        let states: Vec<String> = failures.iter().map(|(_, e)| e.sqlstate.to_string()).collect();
        let errors: Vec<String> = failures.iter().map(|(_, e)| e.message.clone()).collect();
        txn::in_transaction(|| {
            Spi::run_with_args(
                "UPDATE scrap_sga.sync_run SET fetched = fetched + $2, failed = failed + $3, pages = pages + 1 WHERE run_id = $1",
                &[run_id.into(), fetched.into(), (failures.len() as i64).into()],
            )?;
            Spi::run_with_args(
                "INSERT INTO scrap_sga.failed_record AS f (model, odoo_id, sqlstate, error, last_run_id)
                 SELECT $1, u.id, u.state, u.error, $5 FROM unnest($2::integer[], $3::text[], $4::text[]) AS u(id, state, error)
                 ON CONFLICT (model, odoo_id) DO UPDATE SET
                    attempts = f.attempts + 1, sqlstate = EXCLUDED.sqlstate, error = EXCLUDED.error, last_failed_at = now(),
                    next_attempt_at = now() + least(interval '1 minute' * power(2, f.attempts), interval '1 day'),
                    last_run_id = EXCLUDED.last_run_id",
                &[model.into(), ids.clone().into(), states.clone().into(), errors.clone().into(), run_id.into()],
            )?;
            Ok(())
        })?;
        if !failures.is_empty() {
            self.queue_in_use = true;
            let shown: Vec<String> = failures.iter().take(5).map(|(id, e)| format!("{id}: {}", e.message)).collect();
            warning!(
                "scrap_sga: {} record(s) of {} could not be stored and wait for a retry in scrap_sga.failed_record ({})",
                failures.len(),
                model,
                shown.join("; ")
            );
        }
        Ok(())
    }
}
