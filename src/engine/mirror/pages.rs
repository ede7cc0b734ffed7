//! Writing to a mirror table: pages of records, soft deletions, refreshed columns, each in a
//! transaction of its own with the run's counters.
//!
//! A page travels as one JSON document and is written by one statement (`upsert`): an unchanged
//! record costs neither a new row version nor WAL. A record that cannot be stored (a value of the
//! wrong shape, or one Postgres refuses: SQLSTATE classes 22 and 23) must not block its page: the
//! page is split in halves until the culprits are alone, the rest is written, and the culprits
//! wait in the retry queue.
use pgrx::prelude::*;
use scrap_sga_core::ids::OdooId;
use scrap_sga_core::ident::quote;
use scrap_sga_core::mapping::{DisplayColumn, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::OdooError;
use serde_json::{Map, Value};

use super::table::{counted, Mirror};
use crate::engine::prepare::{document, prepare, MissingId, PreparedPage, Row};
use super::upsert::Refresh;
use crate::catalog::full_pass::FullPass;
use crate::catalog::model_state::{Live, ModelState};
use crate::catalog::retry_queue::{Queued, RetryQueue};
use crate::catalog::run_log::Counts;
use crate::errors::{state, SyncError};
use crate::listing::json_arg;
use crate::values::{bigint, our_timestamptz};

/// The error is about the record's values, not about the database or the run.
fn is_record_error(e: &SyncError) -> bool {
    matches!(e.sqlstate.class(), "22" | "23")
}

/// Where a page leaves the full pass it belongs to: committed with the page's counters.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    /// The range's key: the id the pass began it after.
    pub range: i32,
    /// Every id of the range up to this one is copied; None: the whole range.
    pub through: Option<i32>,
}

/// What the transaction that counts a page writes besides its rows: the page's counters, and
/// where the page leaves a full pass.
#[derive(Clone, Copy)]
struct PageEnd {
    counts: Counts,
    checkpoint: Option<Checkpoint>,
    newest: Option<OdooTime>,
}

impl PageEnd {
    fn write(&self, model: &str, read_at: Option<OdooTime>) -> Result<(), SyncError> {
        match self.checkpoint {
            Some(cp) => FullPass::checkpoint(model, cp.range, cp.through, self.counts.fetched, read_at, self.newest),
            None => Ok(()),
        }
    }
}

impl Mirror {
    /// Convert and write one page of records (see [`Mirror::write_prepared`]).
    pub fn write_page(&mut self, page: Vec<Map<String, Value>>, checkpoint: Option<Checkpoint>) -> Result<(), SyncError> {
        let prepared = prepare(&self.plan, page).map_err(|MissingId| self.missing_id())?;
        self.write_prepared(prepared, checkpoint)
    }

    fn missing_id(&self) -> SyncError {
        SyncError::new(state::PROTOCOL_VIOLATION, format!("{}: {MissingId}", self.conf.model))
    }

    /// Write one page of converted records; each part commits with the run's counters, and the
    /// part that counts the page also with where it leaves a full pass (`checkpoint`).
    pub fn write_prepared(&mut self, page: PreparedPage, checkpoint: Option<Checkpoint>) -> Result<(), SyncError> {
        self.note_write_date(page.newest);
        let mut failures: Vec<(OdooId, SyncError, Option<OdooTime>)> =
            page.failures.iter().map(|(id, e, written)| (*id, SyncError::from_convert(e), *written)).collect();
        let end = PageEnd { counts: Counts { fetched: bigint(page.fetched), pages: 1, ..Default::default() }, checkpoint, newest: page.newest };
        if page.rows.is_empty() && failures.is_empty() {
            // A range that ended with no record: only where the pass is.
            let (model, read_at) = (self.conf.model.clone(), self.report.read_started);
            return self.counted(|| end.write(&model, read_at).map(|()| ((), Counts::default())));
        }
        // The usual case, one transaction: the whole page and its end.
        let at_once = failures.is_empty();
        let end_written = self.write_isolating(&page.rows, at_once.then_some(&end), &mut failures)?;
        if !end_written {
            self.queue_failures(&failures, &end)?;
        }
        Ok(())
    }

    /// Write `rows`, halving a part that a record's value refuses until each such record is
    /// alone in `failures`. Returns whether `end` went with the rows: it does only when they
    /// commit at once; otherwise the page's end goes with the failures (`queue_failures`), even
    /// when every half committed.
    fn write_isolating(&mut self, rows: &[Row], end: Option<&PageEnd>, failures: &mut Vec<(OdooId, SyncError, Option<OdooTime>)>) -> Result<bool, SyncError> {
        let Some((first, last)) = rows.first().zip(rows.last()) else { return Ok(false) };
        match self.write_part(rows, end, (first.id, last.id)) {
            Ok(()) => Ok(end.is_some()),
            Err(e) if is_record_error(&e) && rows.len() == 1 => {
                failures.push((first.id, e, first.written));
                Ok(false)
            }
            Err(e) if is_record_error(&e) => {
                let (a, b) = rows.split_at(rows.len() / 2);
                self.write_isolating(a, None, failures)?;
                self.write_isolating(b, None, failures)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// One transaction: the rows, the run's counters (with the page's `end` when it is the
    /// whole page), and the rows' exit from the retry queue.
    fn write_part(&mut self, rows: &[Row], end: Option<&PageEnd>, (first, last): (OdooId, OdooId)) -> Result<(), SyncError> {
        let doc = document(rows);
        let (run_id, model, queue, upsert, read_at, fresh) = (self.run_id, self.conf.model.as_str(), self.queue_in_use, &self.upsert, self.report.read_started, self.fresh);
        counted(&mut self.report, &mut self.progress, run_id, || {
            // A page need not wait for its WAL flush: the run's last transaction, which moves the
            // cursor, commits synchronously, and WAL is flushed in order, so once the cursor is
            // durable every page before it is too. A crash loses at most pages the next run redoes.
            Spi::run("SET LOCAL synchronous_commit TO off")?;
            let (mut counts, live) = upsert.apply(&doc, run_id, fresh).map_err(|e| e.context(format!("{model}: writing a page (ids {first} to {last})")))?;
            if let Some(end) = end {
                counts.add(&end.counts);
                end.write(model, read_at)?;
            }
            ModelState::add_live(model, live)?;
            if queue {
                RetryQueue::remove(model, &rows.iter().map(|r| r.id).collect::<Vec<_>>())?;
            }
            Ok(((), counts))
        })
    }

    /// Queue the records that could not be stored, and count the page (its `end`).
    fn queue_failures(&mut self, failures: &[(OdooId, SyncError, Option<OdooTime>)], end: &PageEnd) -> Result<(), SyncError> {
        let model = self.conf.model.clone();
        let states: Vec<String> = failures.iter().map(|(_, e, _)| e.sqlstate.to_string()).collect();
        let queued: Vec<Queued> = failures
            .iter()
            .zip(&states)
            .map(|((id, e, written), s)| Queued { id: *id, sqlstate: s, error: &e.message, write_date: *written })
            .collect();
        let (run_id, read_at) = (self.run_id, self.report.read_started);
        self.counted(|| {
            RetryQueue::put(&model, run_id, &queued)?;
            end.write(&model, read_at)?;
            Ok(((), Counts { failed: bigint(failures.len()), ..end.counts }))
        })?;
        if !failures.is_empty() {
            self.queue_in_use = true;
            let shown: Vec<String> = failures.iter().take(5).map(|(id, e, _)| format!("{id}: {}", e.message)).collect();
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

    /// Set the display names of the many2ones `columns` from `doc` (`[{"id": 7, "name": "..."}]`:
    /// records of the model they point to, asked for at `asked_at`, our clock) in the live rows
    /// that point to those records and show another name. A row stored since `asked_at` keeps
    /// what its own read showed, which is at least as recent; and its `sga_synced_at` stays when
    /// it was last read (which the window's recheck goes by). Returns how many rows changed.
    pub fn rename(&mut self, columns: &[DisplayColumn], doc: &str, asked_at: std::time::SystemTime) -> Result<i64, SyncError> {
        let (run_id, table) = (self.run_id, self.table.clone());
        let statements: Vec<String> = columns
            .iter()
            .map(|c| {
                let (id, shown) = (quote(&c.id_column), quote(&c.display_column));
                format!(
                    "WITH up AS (UPDATE {table} t SET {shown} = n.name, {COL_RUN_ID} = $2
                                 FROM json_to_recordset($1::json) AS n(id integer, name text)
                                 WHERE t.{id} = n.id AND t.{shown} IS DISTINCT FROM n.name AND t.{COL_DELETED_AT} IS NULL
                                   AND t.{COL_SYNCED_AT} <= $3 RETURNING 1)
                     SELECT count(*) FROM up"
                )
            })
            .collect();
        self.counted(|| {
            let mut changed = 0;
            for sql in &statements {
                changed += Spi::get_one_with_args::<i64>(sql, &[json_arg(doc), run_id.into(), our_timestamptz(asked_at).into()])?.unwrap_or(0);
            }
            Ok((changed, Counts { updated: changed, renamed: changed, ..Default::default() }))
        })
    }

    /// Update the columns of `refresh` in the rows a page of records (`id` and those fields)
    /// names, where their values differ. A value of the wrong shape is left as it was: the
    /// record's next full read reports it. Returns how many rows changed.
    pub fn write_refresh(&mut self, refresh: &Refresh, records: Vec<Map<String, Value>>, what: &str) -> Result<i64, SyncError> {
        let page = prepare(refresh.plan(), records).map_err(|MissingId| self.missing_id())?;
        let doc = document(&page.rows);
        let (run_id, model, fetched) = (self.run_id, self.conf.model.clone(), bigint(page.fetched));
        self.counted(|| {
            let changed = refresh.apply(&doc, run_id).map_err(|e| e.context(format!("{model}: {what}")))?;
            // Read and compared like any record the run reads: `unchanged` stays what it says.
            Ok((changed, Counts { fetched, updated: changed, ..Default::default() }))
        })
    }
}
