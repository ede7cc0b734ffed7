//! The run log, `scrap_sga.sync_run`: one row per model per run. The only writer of that table,
//! as pg_cron's `job_metadata.c` is of `cron.job_run_details`. A run is started, its counters
//! grow in the same transactions as the rows they count, and it ends succeeded or failed.
use pgrx::prelude::*;
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;
use std::time::Duration;

use crate::errors::SyncError;
use crate::values::{bigint, timestamptz};

/// What started a run (`sync_run.trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Worker,
    Resync,
    FullResync,
    Reconcile,
    ResyncFailed,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Worker => "worker",
            Trigger::Resync => "resync",
            Trigger::FullResync => "full_resync",
            Trigger::Reconcile => "reconcile",
            Trigger::ResyncFailed => "resync_failed",
        }
    }
}

/// How a run read Odoo (`sync_run.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Every record (first run, new columns, full_resync).
    Full,
    /// What changed since the previous run.
    Incremental,
    /// One record and those that point to it.
    Resync,
    /// The records waiting in the retry queue.
    Retry,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::Incremental => "incremental",
            RunMode::Resync => "resync",
            RunMode::Retry => "retry",
        }
    }
}

/// Counters of a run, as added to its row: each write adds what it did, in its own transaction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `(id, write_date)` pairs listed (the window, reconcile).
    pub listed: i64,
    pub fetched: i64,
    pub inserted: i64,
    pub updated: i64,
    pub restored: i64,
    pub deleted: i64,
    /// Records that could not be stored (queued for a retry).
    pub failed: i64,
    /// Records reconcile found out of date.
    pub repaired: i64,
    /// Records that could not be fetched even alone (queued for a retry).
    pub parked: i64,
    /// Pages written.
    pub pages: i64,
    /// Rows whose display names were set to the named records' current ones (in `updated` too).
    pub renamed: i64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.listed += o.listed;
        self.fetched += o.fetched;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.restored += o.restored;
        self.deleted += o.deleted;
        self.failed += o.failed;
        self.repaired += o.repaired;
        self.parked += o.parked;
        self.pages += o.pages;
        self.renamed += o.renamed;
    }
}

/// How far a run under way is, written with each transaction that counts.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct UnderWay {
    /// Records done in the run's step.
    pub done: i64,
    /// Records per second over its last pages, when known.
    pub rate: Option<f32>,
    /// Requests to Odoo and answers of 429 or 503 waited for, so far.
    pub requests: u64,
    pub waits: u64,
}

/// What one model's run did, whatever its end: the run-log row's last values and, for a
/// success, what the model's state keeps for the next run (`ModelState::advance`). Built up by
/// the run as it goes (`engine::mirror`) and handed over whole when it ends.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// How the run read Odoo; None until its steps succeeded.
    pub mode: Option<RunMode>,
    /// The same counters as the run's row: each is added to both in the transaction that did
    /// what it counts, never read back.
    pub counts: Counts,
    /// Requests to Odoo, answers of 429 or 503 waited for, and the time spent waiting for
    /// answers (reading their JSON included).
    pub requests: u64,
    pub waits: u64,
    pub odoo_time: Duration,
    /// Time spent in the run's transactions.
    pub db_time: Duration,
    /// Requests for a smaller batch after one was too heavy.
    pub splits: u64,
    pub schema_changes: Vec<String>,
    /// The protocol spoken and the server's version, once known.
    pub protocol: Option<&'static str>,
    pub odoo_version: Option<String>,
    /// Odoo's clock at the run's first answer: the next window is anchored on it.
    pub read_started: Option<OdooTime>,
    /// The newest write_date seen.
    pub max_write_date: Option<OdooTime>,
    /// The model's cursor once a successful run is over (the newest write_date copied).
    pub cursor_after: Option<OdooTime>,
    /// A sync run sets the next window; a resync or a retry run may only widen the recheck.
    pub sets_window: bool,
    /// Rows written since this time are read again by the next run (see `scrap_sga.model`).
    pub recheck_from: Option<OdooTime>,
    pub reconciled: bool,
    pub computed_refreshed: bool,
    /// The fingerprint of the window listed (from when, and what Odoo said), when it was listed.
    pub window: Option<(OdooTime, Fingerprint)>,
    /// See `scrap_sga.model.recheck_margin`.
    pub recheck_margin_s: Option<f64>,
    /// The batch size that worked and what a record weighed, for the next run.
    pub batch: Option<(usize, u64)>,
}

impl Report {
    /// A second attempt within the same run (after the server was found out again): its end,
    /// with both attempts' work, as the run's row has it.
    pub fn then(self, mut next: Report) -> Report {
        next.schema_changes = [self.schema_changes, next.schema_changes].concat();
        next.counts.add(&self.counts);
        next.requests += self.requests;
        next.waits += self.waits;
        next.odoo_time += self.odoo_time;
        next.db_time += self.db_time;
        next.splits += self.splits;
        next
    }
}

pub struct RunLog;

impl RunLog {
    /// A new run of `model`. Any other run of it still marked running has died: the caller
    /// holds the model's lock.
    pub fn start(invocation: i64, model: &str, trigger: Trigger, cursor: Option<OdooTime>) -> Result<i64, SyncError> {
        // Called under the model's lock: no other run of it is going on, so a run still marked
        // running is over. Its process ended, or it is this one, whose last transaction for that
        // run failed (the scheduler lives on: its own rows were left running for ever).
        // Pages it committed are news to listeners, as a failed run's are (`finish`).
        Spi::run_with_args(
            "WITH ended AS (
                UPDATE scrap_sga.sync_run SET status = 'failed', finished_at = clock_timestamp(), sqlstate = '57P01',
                    error = CASE WHEN backend_pid = pg_backend_pid()
                                 THEN 'interrupted: its end could not be recorded (the run''s last transaction failed)'
                                 ELSE format('interrupted: the process running it (pid %s) ended before the run finished', backend_pid) END
                WHERE model = $1 AND status = 'running' RETURNING run_id)
             SELECT scrap_sga._notify_changes(run_id) FROM ended",
            &[model.into()],
        )?;
        Spi::get_one_with_args::<i64>(
            "INSERT INTO scrap_sga.sync_run (invocation, model, trigger, cursor_before) VALUES ($1, $2, $3, $4) RETURNING run_id",
            &[invocation.into(), model.into(), trigger.as_str().into(), timestamptz(cursor).into()],
        )?
        .ok_or_else(|| SyncError::new(crate::errors::state::INTERNAL, "INSERT ... RETURNING gave no run_id"))
    }

    /// Add counters to the run, in the caller's transaction (the one that did what they count),
    /// with how far the run is now (`live`, see `scrap_sga.progress`).
    pub fn add(run_id: i64, c: &Counts, live: Option<&UnderWay>) -> Result<(), SyncError> {
        if *c == Counts::default() && live.is_none() {
            return Ok(());
        }
        let live = live.copied();
        Spi::run_with_args(
            "UPDATE scrap_sga.sync_run SET listed = listed + $2, fetched = fetched + $3, inserted = inserted + $4, updated = updated + $5,
                    restored = restored + $6, deleted = deleted + $7, failed = failed + $8, repaired = repaired + $9,
                    parked = parked + $10, pages = pages + $11,
                    done = coalesce($12, done), rate = coalesce($13, rate), requests = greatest(requests, $14), waits = greatest(waits, $15),
                    progress_at = CASE WHEN $12 IS NULL THEN progress_at ELSE clock_timestamp() END, renamed = renamed + $16
             WHERE run_id = $1",
            &[
                run_id.into(), c.listed.into(), c.fetched.into(), c.inserted.into(), c.updated.into(), c.restored.into(), c.deleted.into(),
                c.failed.into(), c.repaired.into(), c.parked.into(), c.pages.into(), live.map(|l| l.done).into(),
                live.and_then(|l| l.rate).into(), bigint(live.map_or(0, |l| l.requests)).into(), bigint(live.map_or(0, |l| l.waits)).into(),
                c.renamed.into(),
            ],
        )?;
        Ok(())
    }

    /// The run enters a step (`phase`), with `done` of `expected` records done in it (None:
    /// not known); a full pass that resumed says after which id.
    pub fn phase(run_id: i64, phase: &str, done: i64, expected: Option<i64>, resumed_from: Option<i32>) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.sync_run SET phase = $2, done = $3, expected = $4, rate = NULL, progress_at = clock_timestamp(),
                    resumed_from = coalesce($5, resumed_from)
             WHERE run_id = $1",
            &[run_id.into(), phase.into(), done.into(), expected.into(), resumed_from.into()],
        )?;
        Ok(())
    }

    /// The run's end, succeeded or failed (with the error), and what it changed for listeners
    /// (`LISTEN scrap_sga`), sent when the caller's transaction commits.
    pub fn finish(run_id: i64, report: &Report, error: Option<&SyncError>) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.sync_run SET status = CASE WHEN $2::text IS NULL THEN 'succeeded' ELSE 'failed' END,
                    finished_at = clock_timestamp(), unchanged = fetched - inserted - (updated - renamed) - restored - failed,
                    sqlstate = $2, error = $3, requests = $4, splits = $5, waits = $6,
                    odoo_time = make_interval(secs => $7), db_time = make_interval(secs => $8), odoo_version = $9, protocol = $10,
                    mode = coalesce($11, mode), cursor_after = CASE WHEN $2::text IS NULL THEN $12 END,
                    schema_changes = $13, reconciled = $14
             WHERE run_id = $1",
            &[
                run_id.into(), error.map(|e| e.sqlstate.to_string()).into(), error.map(|e| e.message.as_str()).into(),
                bigint(report.requests).into(), bigint(report.splits).into(), bigint(report.waits).into(), report.odoo_time.as_secs_f64().into(),
                report.db_time.as_secs_f64().into(), report.odoo_version.as_deref().into(), report.protocol.into(),
                report.mode.map(RunMode::as_str).into(), timestamptz(report.cursor_after).into(), report.schema_changes.clone().into(),
                (error.is_none() && report.reconciled).into(),
            ],
        )?;
        // A failed run may have committed pages before it failed: those changes are news too.
        Spi::run_with_args("SELECT scrap_sga._notify_changes($1)", &[run_id.into()])?;
        Ok(())
    }

    /// A run that could not even find its models (the catalog could not be read): recorded
    /// under the name asked for, so that the caller reads why.
    pub fn record_failure(invocation: i64, model: &str, trigger: Trigger, e: &SyncError) -> Result<(), SyncError> {
        let run_id = RunLog::start(invocation, model, trigger, None)?;
        RunLog::finish(run_id, &Report::default(), Some(e))
    }
}
