//! The run log, `scrap_sga.sync_run`: one row per model per run. The only writer of that table,
//! as pg_cron's `job_metadata.c` is of `cron.job_run_details`. A run is started, its counters
//! grow in the same transactions as the rows they count, and it ends succeeded or failed.
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use scrap_sga_core::odoo::time::OdooTime;
use std::time::Duration;

use crate::errors::SyncError;

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
    }
}

/// How a run ended, besides its counters.
#[derive(Debug, Default)]
pub struct RunEnd<'a> {
    pub mode: Option<RunMode>,
    pub protocol: Option<&'static str>,
    pub odoo_version: Option<&'a str>,
    pub requests: u64,
    /// Requests for a smaller batch after one was too heavy, and answers of 429 or 503 waited for.
    pub splits: u64,
    pub waits: u64,
    pub odoo_time: Duration,
    pub db_time: Duration,
    pub cursor_after: Option<OdooTime>,
    pub schema_changes: Vec<String>,
    pub reconciled: bool,
}

pub fn timestamptz(t: Option<OdooTime>) -> Option<TimestampWithTimeZone> {
    t.and_then(|t| TimestampWithTimeZone::try_from(t.pg_micros()).ok())
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

    /// Add counters to the run, in the caller's transaction (the one that did what they count).
    pub fn add(run_id: i64, c: &Counts) -> Result<(), SyncError> {
        if *c == Counts::default() {
            return Ok(());
        }
        Spi::run_with_args(
            "UPDATE scrap_sga.sync_run SET listed = listed + $2, fetched = fetched + $3, inserted = inserted + $4, updated = updated + $5,
                    restored = restored + $6, deleted = deleted + $7, failed = failed + $8, repaired = repaired + $9,
                    parked = parked + $10, pages = pages + $11
             WHERE run_id = $1",
            &[
                run_id.into(), c.listed.into(), c.fetched.into(), c.inserted.into(), c.updated.into(), c.restored.into(), c.deleted.into(),
                c.failed.into(), c.repaired.into(), c.parked.into(), (c.pages as i32).into(),
            ],
        )?;
        Ok(())
    }

    /// The run's end, succeeded or failed (with the error), and what it changed for listeners
    /// (`LISTEN scrap_sga`), sent when the caller's transaction commits.
    pub fn finish(run_id: i64, end: &RunEnd, error: Option<&SyncError>) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.sync_run SET status = CASE WHEN $2::text IS NULL THEN 'succeeded' ELSE 'failed' END,
                    finished_at = clock_timestamp(), unchanged = fetched - inserted - updated - restored - failed,
                    sqlstate = $2, error = $3, requests = $4, splits = $5, waits = $6,
                    odoo_time = make_interval(secs => $7), db_time = make_interval(secs => $8), odoo_version = $9, protocol = $10,
                    mode = coalesce($11, mode), cursor_after = CASE WHEN $2::text IS NULL THEN $12 END,
                    schema_changes = $13, reconciled = $14
             WHERE run_id = $1",
            &[
                run_id.into(), error.map(|e| e.sqlstate.to_string()).into(), error.map(|e| e.message.as_str()).into(),
                (end.requests as i32).into(), (end.splits as i32).into(), (end.waits as i32).into(), end.odoo_time.as_secs_f64().into(),
                end.db_time.as_secs_f64().into(), end.odoo_version.into(), end.protocol.into(), end.mode.map(RunMode::as_str).into(),
                timestamptz(end.cursor_after).into(), end.schema_changes.clone().into(), end.reconciled.into(),
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
        RunLog::finish(run_id, &RunEnd::default(), Some(e))
    }
}
