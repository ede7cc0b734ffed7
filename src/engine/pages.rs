//! Writing to a mirror table: pages of records, soft deletions, refreshed columns, each in a
//! transaction of its own with the run's counters.
//!
//! A page travels as one JSON document and is written by one statement (`upsert`): an unchanged
//! record costs neither a new row version nor WAL. A record that cannot be stored (a value of the wrong shape,
//! or one Postgres refuses: SQLSTATE classes 22 and 23) must not block its page: the page is
//! split in halves until the culprits are alone, the rest is written, and the culprits wait in
//! the retry queue.
use pgrx::prelude::*;
use scrap_sga_core::ids::record_id;
use scrap_sga_core::mapping::{self, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::OdooError;
use serde_json::{Map, Value};

use super::context::Mirror;
use crate::catalog::model_state::{Live, ModelState};
use crate::catalog::retry_queue::{Queued, RetryQueue};
use crate::catalog::run_log::{Counts, RunLog};
use crate::errors::{state, SyncError};

/// The error is about the record's values, not about the database or the run.
fn is_record_error(e: &SyncError) -> bool {
    matches!(e.sqlstate.class(), "22" | "23")
}

impl Mirror {
    /// Convert and write one page of records; each part commits with the run's counters.
    pub fn write_page(&mut self, page: Vec<Map<String, Value>>) -> Result<Counts, SyncError> {
        let fetched = page.len() as i64;
        let mut rows: std::collections::BTreeMap<i32, Map<String, Value>> = Default::default();
        let mut failures: Vec<(i32, SyncError)> = Vec::new();
        let mut write_dates = std::collections::BTreeMap::new();
        for rec in &page {
            let id = record_id(rec)
                .ok_or_else(|| SyncError::new(state::PROTOCOL_VIOLATION, format!("{}: a record without an integer id that fits", self.conf.model)))?;
            let written = OdooTime::write_date_of(rec);
            self.note_write_date(written);
            write_dates.insert(id, written);
            match mapping::convert_record(&self.plan, rec) {
                Ok(converted) => {
                    rows.insert(id, converted);
                }
                Err(e) => failures.push((id, SyncError::from_convert(&e))),
            }
        }
        drop(page);
        let rows: Vec<(i32, Value)> = rows.into_iter().map(|(id, m)| (id, Value::Object(m))).collect();
        // The usual case, one transaction: the whole page and its counters.
        let page_counts = Counts { fetched, pages: 1, ..Default::default() };
        let counters_now = failures.is_empty();
        let mut written = self.write_isolating(&rows, if counters_now { page_counts } else { Counts::default() }, &mut failures)?;
        if !counters_now || !failures.is_empty() {
            self.queue_failures(&failures, &write_dates, page_counts)?;
            written.failed = failures.len() as i64;
        }
        let counts = Counts { fetched, pages: 1, ..written };
        self.done.add(&counts);
        Ok(counts)
    }

    fn write_isolating(&mut self, rows: &[(i32, Value)], extra: Counts, failures: &mut Vec<(i32, SyncError)>) -> Result<Counts, SyncError> {
        if rows.is_empty() {
            return Ok(Counts::default());
        }
        match self.write_part(rows, extra) {
            Ok(c) => Ok(c),
            Err(e) if is_record_error(&e) && rows.len() == 1 => {
                failures.push((rows[0].0, e));
                Ok(Counts::default())
            }
            Err(e) if is_record_error(&e) => {
                let (a, b) = rows.split_at(rows.len() / 2);
                let mut x = self.write_isolating(a, Counts::default(), failures)?;
                x.add(&self.write_isolating(b, Counts::default(), failures)?);
                Ok(x)
            }
            Err(e) => Err(e),
        }
    }

    /// One transaction: the rows, the run's counters (with `extra`), and the rows' exit from the
    /// retry queue.
    fn write_part(&mut self, rows: &[(i32, Value)], extra: Counts) -> Result<Counts, SyncError> {
        let doc = serde_json::to_string(&rows.iter().map(|(_, v)| v).collect::<Vec<_>>()).expect("JSON values serialize");
        let (first, last) = (rows[0].0, rows[rows.len() - 1].0);
        let (run_id, model, queue) = (self.run_id, self.conf.model.as_str(), self.queue_in_use);
        let upsert = &self.upsert;
        self.db.txn(|| {
            // A page need not wait for its WAL flush: the run's last transaction, which moves the
            // cursor, commits synchronously, and WAL is flushed in order, so once the cursor is
            // durable every page before it is too. A crash loses at most pages the next run redoes.
            Spi::run("SET LOCAL synchronous_commit TO off")?;
            let (counts, live) = upsert.apply(&doc, run_id).map_err(|e| e.context(format!("{model}: writing a page (ids {first} to {last})")))?;
            let mut logged = counts;
            logged.add(&extra);
            RunLog::add(run_id, &logged)?;
            ModelState::add_live(model, live)?;
            if queue {
                RetryQueue::remove(model, &rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())?;
            }
            Ok(counts)
        })
    }

    /// Queue the records that could not be stored, and count the page.
    fn queue_failures(&mut self, failures: &[(i32, SyncError)], write_dates: &std::collections::BTreeMap<i32, Option<OdooTime>>, page: Counts) -> Result<(), SyncError> {
        let (run_id, model) = (self.run_id, self.conf.model.as_str());
        let states: Vec<String> = failures.iter().map(|(_, e)| e.sqlstate.to_string()).collect();
        let queued: Vec<Queued> = failures
            .iter()
            .zip(&states)
            .map(|((id, e), s)| Queued { id: *id, sqlstate: s, error: &e.message, write_date: write_dates.get(id).copied().flatten() })
            .collect();
        self.db.txn(|| {
            RunLog::add(run_id, &Counts { failed: failures.len() as i64, ..page })?;
            RetryQueue::put(model, run_id, &queued)
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

    /// A record Odoo could not serve even alone (an answer over `max_response_mb`, too slow for
    /// `read_timeout` or for Odoo's own time limit, cut): it waits in the retry queue, and the
    /// rest of the model goes on.
    pub fn set_aside(&mut self, id: i32, error: &OdooError) -> Result<(), SyncError> {
        let e = SyncError::from_odoo(error);
        let why = format!("record {id} could not be fetched even alone: {}", e.message);
        let (run_id, model, sqlstate) = (self.run_id, self.conf.model.as_str(), e.sqlstate.to_string());
        self.db.txn(|| {
            RunLog::add(run_id, &Counts { parked: 1, ..Default::default() })?;
            RetryQueue::put(model, run_id, &[Queued { id, sqlstate: &sqlstate, error: &why, write_date: None }])
        })?;
        self.done.parked += 1;
        self.queue_in_use = true;
        warning!("scrap_sga: {model}: {why}; it waits for a retry in scrap_sga.failed_record, the rest goes on");
        Ok(())
    }

    /// Soft-delete the rows `condition` selects (SQL on the table's columns, with the `n_args`
    /// values `args` makes as $1, $2, ...), stamp them with this run, and count them. `args` runs
    /// inside the transaction: a datum such as an array is allocated in the transaction's
    /// memory, which does not exist before it starts.
    pub fn soft_delete<'d>(&mut self, condition: &str, n_args: usize, args: impl FnOnce() -> Vec<pgrx::datum::DatumWithOid<'d>>) -> Result<i64, SyncError> {
        let (run_id, model) = (self.run_id, self.conf.model.as_str());
        let sql = format!(
            "WITH d AS (UPDATE {} SET {COL_DELETED_AT} = now(), {COL_SYNCED_AT} = now(), {COL_RUN_ID} = ${}
                        WHERE {COL_DELETED_AT} IS NULL AND ({condition}) RETURNING id)
             SELECT count(*), coalesce(sum(id), 0)::bigint FROM d",
            self.table,
            n_args + 1
        );
        let deleted = self.db.txn(|| {
            let mut args = args();
            args.push(run_id.into());
            let (n, id_sum) = Spi::get_two_with_args::<i64, i64>(&sql, &args)?;
            let (n, id_sum) = (n.unwrap_or(0), id_sum.unwrap_or(0));
            RunLog::add(run_id, &Counts { deleted: n, ..Default::default() })?;
            ModelState::add_live(model, Live { rows: -n, id_sum: -id_sum })?;
            Ok(n)
        })?;
        self.done.deleted += deleted;
        Ok(deleted)
    }
}
