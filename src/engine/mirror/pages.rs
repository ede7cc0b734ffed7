//! Writing to a mirror table: pages of records, soft deletions, refreshed columns, each in a
//! transaction of its own with the run's counters.
//!
//! A page travels as one JSON document and is written by one statement (`upsert`): an unchanged
//! record costs neither a new row version nor WAL. A record that cannot be stored (a value of the
//! wrong shape, or one Postgres refuses: SQLSTATE classes 22 and 23) must not block its page: the
//! page is split in halves until the culprits are alone, the rest is written, and the culprits
//! wait in the retry queue.
use pgrx::prelude::*;
use scrap_sga_core::ids::{record_id, OdooId};
use scrap_sga_core::mapping::{self, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::OdooError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::upsert::Refresh;
use super::Mirror;
use crate::catalog::model_state::{Live, ModelState};
use crate::catalog::retry_queue::{Queued, RetryQueue};
use crate::catalog::run_log::Counts;
use crate::errors::{state, SyncError};

/// The error is about the record's values, not about the database or the run.
fn is_record_error(e: &SyncError) -> bool {
    matches!(e.sqlstate.class(), "22" | "23")
}

/// A count of things in memory, as the run log counts them.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Rows as the JSON document `json_to_recordset` reads.
fn document<'a>(rows: impl Iterator<Item = &'a Value>) -> Result<String, SyncError> {
    serde_json::to_string(&rows.collect::<Vec<_>>()).map_err(|e| SyncError::new(state::INTERNAL, format!("a page could not be written as JSON: {e}")))
}

impl Mirror {
    /// Convert and write one page of records; each part commits with the run's counters.
    pub fn write_page(&mut self, page: Vec<Map<String, Value>>) -> Result<(), SyncError> {
        let fetched = count(page.len());
        let mut rows: BTreeMap<OdooId, Map<String, Value>> = BTreeMap::new();
        let mut failures: Vec<(OdooId, SyncError)> = Vec::new();
        let mut write_dates = BTreeMap::new();
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
        let rows: Vec<(OdooId, Value)> = rows.into_iter().map(|(id, m)| (id, Value::Object(m))).collect();
        // The usual case, one transaction: the whole page and its counters.
        let page_counts = Counts { fetched, pages: 1, ..Default::default() };
        let counters_now = failures.is_empty();
        self.write_isolating(&rows, if counters_now { page_counts } else { Counts::default() }, &mut failures)?;
        if !counters_now || !failures.is_empty() {
            self.queue_failures(&failures, &write_dates, page_counts)?;
        }
        Ok(())
    }

    fn write_isolating(&mut self, rows: &[(OdooId, Value)], extra: Counts, failures: &mut Vec<(OdooId, SyncError)>) -> Result<(), SyncError> {
        let Some(((first, _), (last, _))) = rows.first().zip(rows.last()) else { return Ok(()) };
        match self.write_part(rows, extra, (*first, *last)) {
            Ok(()) => Ok(()),
            Err(e) if is_record_error(&e) && rows.len() == 1 => {
                failures.push((*first, e));
                Ok(())
            }
            Err(e) if is_record_error(&e) => {
                let (a, b) = rows.split_at(rows.len() / 2);
                self.write_isolating(a, Counts::default(), failures)?;
                self.write_isolating(b, Counts::default(), failures)
            }
            Err(e) => Err(e),
        }
    }

    /// One transaction: the rows, the run's counters (with `extra`), and the rows' exit from the
    /// retry queue.
    fn write_part(&mut self, rows: &[(OdooId, Value)], extra: Counts, (first, last): (OdooId, OdooId)) -> Result<(), SyncError> {
        let doc = document(rows.iter().map(|(_, v)| v))?;
        let (run_id, model, queue, upsert) = (self.run_id, self.conf.model.as_str(), self.queue_in_use, &self.upsert);
        super::counted(&mut self.report, run_id, || {
            // A page need not wait for its WAL flush: the run's last transaction, which moves the
            // cursor, commits synchronously, and WAL is flushed in order, so once the cursor is
            // durable every page before it is too. A crash loses at most pages the next run redoes.
            Spi::run("SET LOCAL synchronous_commit TO off")?;
            let (mut counts, live) = upsert.apply(&doc, run_id).map_err(|e| e.context(format!("{model}: writing a page (ids {first} to {last})")))?;
            counts.add(&extra);
            ModelState::add_live(model, live)?;
            if queue {
                RetryQueue::remove(model, &rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())?;
            }
            Ok(((), counts))
        })
    }

    /// Queue the records that could not be stored, and count the page.
    fn queue_failures(&mut self, failures: &[(OdooId, SyncError)], write_dates: &BTreeMap<OdooId, Option<OdooTime>>, page: Counts) -> Result<(), SyncError> {
        let model = self.conf.model.clone();
        let states: Vec<String> = failures.iter().map(|(_, e)| e.sqlstate.to_string()).collect();
        let queued: Vec<Queued> = failures
            .iter()
            .zip(&states)
            .map(|((id, e), s)| Queued { id: *id, sqlstate: s, error: &e.message, write_date: write_dates.get(id).copied().flatten() })
            .collect();
        let run_id = self.run_id;
        self.counted(|| {
            RetryQueue::put(&model, run_id, &queued)?;
            Ok(((), Counts { failed: count(failures.len()), ..page }))
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
    pub fn set_aside(&mut self, id: OdooId, error: &OdooError) -> Result<(), SyncError> {
        let e = SyncError::from_odoo(error);
        let why = format!("record {id} could not be fetched even alone: {}", e.message);
        let (run_id, model, sqlstate) = (self.run_id, self.conf.model.clone(), e.sqlstate.to_string());
        self.counted(|| {
            RetryQueue::put(&model, run_id, &[Queued { id, sqlstate: &sqlstate, error: &why, write_date: None }])?;
            Ok(((), Counts { parked: 1, ..Default::default() }))
        })?;
        self.queue_in_use = true;
        warning!("scrap_sga: {model}: {why}; it waits for a retry in scrap_sga.failed_record, the rest goes on");
        Ok(())
    }

    /// Soft-delete the rows `condition` selects (SQL on the table's columns, with the `n_args`
    /// values `args` makes as $1, $2, ...), stamp them with this run, and count them. `args` runs
    /// inside the transaction: a datum such as an array is allocated in the transaction's
    /// memory, which does not exist before it starts.
    pub fn soft_delete<'d>(&mut self, condition: &str, n_args: usize, args: impl FnOnce() -> Vec<pgrx::datum::DatumWithOid<'d>>) -> Result<i64, SyncError> {
        let (run_id, model) = (self.run_id, self.conf.model.clone());
        let sql = format!(
            "WITH d AS (UPDATE {} SET {COL_DELETED_AT} = now(), {COL_SYNCED_AT} = now(), {COL_RUN_ID} = ${}
                        WHERE {COL_DELETED_AT} IS NULL AND ({condition}) RETURNING id)
             SELECT count(*), coalesce(sum(id), 0)::bigint FROM d",
            self.table,
            n_args + 1
        );
        self.counted(|| {
            let mut args = args();
            args.push(run_id.into());
            let (n, id_sum) = Spi::get_two_with_args::<i64, i64>(&sql, &args)?;
            let (n, id_sum) = (n.unwrap_or(0), id_sum.unwrap_or(0));
            ModelState::add_live(&model, Live { rows: -n, id_sum: -id_sum })?;
            Ok((n, Counts { deleted: n, ..Default::default() }))
        })
    }

    /// Update the columns of `refresh` in the rows a page of records (`id` and those fields)
    /// names, where their values differ. A value of the wrong shape is left as it was: the
    /// record's next full read reports it. Returns how many rows changed.
    pub fn write_refresh(&mut self, refresh: &Refresh, records: &[Map<String, Value>], what: &str) -> Result<i64, SyncError> {
        let rows: Vec<Value> = records.iter().filter_map(|r| mapping::convert_record(refresh.plan(), r).ok()).map(Value::Object).collect();
        let doc = document(rows.iter())?;
        let (run_id, model, fetched) = (self.run_id, self.conf.model.clone(), count(records.len()));
        self.counted(|| {
            let changed = refresh.apply(&doc, run_id).map_err(|e| e.context(format!("{model}: {what}")))?;
            // Read and compared like any record the run reads: `unchanged` stays what it says.
            Ok((changed, Counts { fetched, updated: changed, ..Default::default() }))
        })
    }
}
