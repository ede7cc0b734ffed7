//! The sync engine. For each model of an invocation (`run_model`, under the model's lock):
//!
//! 1. plan: ask Odoo for the fields when due (`schema_refresh`), map them to columns, create or
//!    extend the mirror table (`schema`);
//! 2. copy: a full pass (`full`, over several id ranges at once with `streams`) the first time,
//!    after new columns, or on full_resync; otherwise an incremental pass over the `write_date`
//!    window anchored on Odoo's clock (`incremental`);
//! 3. deletions: compare Odoo's record count with the mirror's, and find what went (`deletions`);
//! 4. reconcile `(id, write_date)` pairs when due (`reconcile`): repairs what the window missed;
//! 5. refresh opted-in computed fields when due (`computed`).
//!
//! A field the sync user may not read is left out when Odoo says so, and the run goes on without
//! it. Each step is a method of the run's context (`context::ModelRun`); the run log, the retry
//! queue and the model's state are written through their owners in `catalog`.
//!
//! Nothing here holds a transaction while Odoo is being asked: each page is written in a short
//! transaction of its own (`pages`, with the statements of `upsert`), and the cursor moves only when the whole run has committed,
//! so a run that dies half-way is done again, harmlessly.
mod computed;
mod context;
mod deletions;
mod full;
mod halving;
mod incremental;
mod job;
mod pages;
mod reader;
mod reconcile;
mod remote;
mod resync;
mod retry;
pub mod schema;
mod session;
mod streams;
pub mod upsert;

pub use job::{Invocation, Job, JobArgs, Outcome};
pub use remote::Remote;
pub use session::Session;
pub use streams::{fetch, Event, Listing};

use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;
use scrap_sga_core::mapping::{self, ModelPlan, OdooField};
use std::collections::BTreeSet;
use std::time::Duration;

use crate::catalog::model_state::{ModelState, Progress};
use crate::catalog::run_log::{RunEnd, RunLog, RunMode};
use crate::catalog::{self, connection, fields, ModelConf};
use crate::errors::{state, SyncError};
use crate::{budget, interrupt, txn};
use context::{DbClock, ModelRun};
use incremental::Window;
use remote::ClientCounts;
use schema::TableOutcome;

/// Seconds before the previous read whose records the next run reads again, if they were
/// copied as soon (see `scrap_sga.model.recheck_from` and `recheck_margin`): two writes within
/// one second carry the same write_date.
pub(super) const RECHECK_SECS: i64 = 2;

/// Run every model of an invocation. Failures are recorded in the run log, never raised: the
/// caller reads the outcome there.
pub fn run_invocation(inv: &Invocation) -> Vec<Outcome> {
    let models = match txn::in_transaction(|| match inv.job {
        // A resync touches the record's model and the models that point to it (its lines).
        Job::Resync { .. } => catalog::models::resync_models(inv.model.as_deref().unwrap_or_default()),
        _ => catalog::models::models(inv.model.as_deref()),
    }) {
        Ok(m) => m,
        Err(e) => {
            let name = inv.model.clone().unwrap_or_else(|| "*".into());
            let _ = txn::in_transaction(|| RunLog::record_failure(inv.id, &name, inv.trigger(), &e));
            return vec![Outcome { error: Some(e) }];
        }
    };
    let mirrored: BTreeSet<String> = models.iter().map(|m| m.model.clone()).collect();
    let conn = txn::in_transaction(|| connection::load(budget::pace));
    if let Ok(c) = &conn {
        if c.settings.url.starts_with("http://") && !scrap_sga_core::odoo::settings::is_loopback(&c.settings.url) {
            warning!(
                "scrap_sga: the Odoo connection uses plain HTTP to {}: the secret crosses the network unencrypted",
                scrap_sga_core::odoo::settings::display_url(&c.settings.url)
            );
        }
    }
    let mut session = Session::new(conn, true);
    let outcomes = models.iter().map(|conf| run_model(inv, conf, &mut session, &mirrored)).collect();
    if let Err(e) = session.remember_findings() {
        warning!("scrap_sga: keeping how Odoo answers fingerprints failed: {}", e.message);
    }
    // Each on its own: a bad retention setting for one log must not keep the other growing.
    for (log, prune) in [("the audit log", "SELECT scrap_sga.prune_audit()"), ("the run log", "SELECT scrap_sga.prune_runs()")] {
        if let Err(e) = txn::in_transaction(|| Ok(Spi::run(prune)?)) {
            warning!("scrap_sga: pruning {log} failed: {}", e.message);
        }
    }
    outcomes
}

/// Try `try_lock` until it succeeds or this process is told to stop. Not pg_advisory_lock: its
/// wait ignores SIGTERM (pgrx's handler only raises a flag), so the worker of a cancelled
/// sync() kept waiting, and its worker slot, until the run holding the lock ended, hours for a
/// full pass, and cancelled calls piled up workers until no more could start.
fn wait_for(try_lock: impl Fn() -> Result<bool, SyncError>) -> Result<bool, SyncError> {
    loop {
        if try_lock()? {
            return Ok(true);
        }
        interrupt::check()?;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn lock_key(model: &str) -> String {
    format!("hashtext('scrap_sga'), hashtext({})", scrap_sga_core::ident::literal(model))
}

/// One model of an invocation: its lock, its run-log row, the sync, the bookkeeping.
fn run_model(inv: &Invocation, conf: &ModelConf, session: &mut Session, mirrored: &BTreeSet<String>) -> Outcome {
    let key = lock_key(&conf.model);
    // A session-level advisory lock: it outlives the page transactions, so a manual sync() and
    // the scheduler never work on the same model at once.
    let try_lock = || txn::in_transaction(|| Ok(Spi::get_one::<bool>(&format!("SELECT pg_try_advisory_lock({key})"))?.unwrap_or(false)));
    let locked = if inv.wait_for_lock { wait_for(try_lock) } else { try_lock() };
    let outcome = match locked {
        Ok(true) => run_locked(inv, conf, session, mirrored),
        Ok(false) => return Outcome::default(),
        Err(e) => return Outcome { error: Some(e) },
    };
    let _ = txn::in_transaction(|| Ok(Spi::run(&format!("SELECT pg_advisory_unlock({key})"))?));
    outcome
}

/// The model's row as it is now (as `conf` was, if it cannot be read).
fn reread(conf: &ModelConf) -> ModelConf {
    match txn::in_transaction(|| catalog::models::models(Some(&conf.model))) {
        Ok(mut v) if !v.is_empty() => v.remove(0),
        _ => conf.clone(),
    }
}

fn run_locked(inv: &Invocation, conf: &ModelConf, session: &mut Session, mirrored: &BTreeSet<String>) -> Outcome {
    // Read the model again now that we hold its lock: a run that just finished moved its cursor.
    let mut conf = reread(conf);
    let run_id = match txn::in_transaction(|| RunLog::start(inv.id, &conf.model, inv.trigger(), conf.cursor)) {
        Ok(id) => id,
        Err(e) => return Outcome { error: Some(e) },
    };
    let mut report = sync_model(inv, &conf, run_id, session, mirrored);
    if report.result.as_ref().is_err_and(|e| session.may_have_changed(e)) {
        // The server may not be what it was when last found out (upgraded, moved): find it out
        // again, and try once more within the same run, from the model's state as the first try
        // left it (a full pass it made owed).
        if session.rediscover().is_ok() {
            conf = reread(&conf);
            let again = sync_model(inv, &conf, run_id, session, mirrored);
            report = report.then(again);
        }
    }
    if let Err(e) = &report.result {
        session.note_failure(e);
    }
    finish(inv, &conf, run_id, report, session)
}

/// How a model's run went, for its run-log row and the model's state.
struct Report {
    result: Result<Done, SyncError>,
    schema_changes: Vec<String>,
    db: Duration,
    read_started: Option<scrap_sga_core::odoo::time::OdooTime>,
    max_write_date: Option<scrap_sga_core::odoo::time::OdooTime>,
    splits: u64,
    batch: Option<(usize, u64)>,
    window: Option<(scrap_sga_core::odoo::time::OdooTime, scrap_sga_core::odoo::fingerprint::Fingerprint)>,
    recheck_margin_s: Option<f64>,
    /// The remote's counts before and after: the difference is this run's.
    odoo: OdooWork,
}

/// What a run asked of Odoo: requests, waits for a 429 or 503, and the time waited for answers.
/// Counted as differences on the client each attempt used, and added up over attempts: an
/// attempt after a rediscovery has a new client, counting from zero.
#[derive(Debug, Default, Clone, Copy)]
struct OdooWork {
    requests: u64,
    waits: u64,
    time: Duration,
}

impl OdooWork {
    fn between(before: (ClientCounts, Duration), after: (ClientCounts, Duration)) -> OdooWork {
        OdooWork {
            requests: after.0.requests.saturating_sub(before.0.requests),
            waits: after.0.waits.saturating_sub(before.0.waits),
            time: after.1.saturating_sub(before.1),
        }
    }

    fn plus(self, other: OdooWork) -> OdooWork {
        OdooWork { requests: self.requests + other.requests, waits: self.waits + other.waits, time: self.time + other.time }
    }
}

impl Report {
    /// A second attempt within the same run: its result, with both attempts' work.
    fn then(self, mut next: Report) -> Report {
        next.schema_changes = [self.schema_changes, next.schema_changes].concat();
        next.db += self.db;
        next.splits += self.splits;
        next.odoo = self.odoo.plus(next.odoo);
        next
    }
}

/// What a successful run did, for the model's state.
struct Done {
    mode: RunMode,
    sets_window: bool,
    reconciled: bool,
    computed_refreshed: bool,
}

fn sync_model(inv: &Invocation, conf: &ModelConf, run_id: i64, session: &mut Session, mirrored: &BTreeSet<String>) -> Report {
    let mut report = Report {
        result: Err(interrupt::Stopped.into()),
        schema_changes: Vec::new(),
        db: Duration::ZERO,
        read_started: None,
        max_write_date: None,
        splits: 0,
        batch: None,
        window: None,
        recheck_margin_s: None,
        odoo: OdooWork::default(),
    };
    let remote = match session.ensure() {
        Ok(r) => r,
        Err(e) => {
            report.result = Err(e);
            return report;
        }
    };
    let before = (remote.counts(), remote.waited());
    let mut db = DbClock::default();
    let planned = plan(inv, conf, remote, mirrored, &mut db, &mut report.schema_changes);
    report.result = match planned {
        Err(e) => Err(e),
        Ok(p) => {
            let mut run = ModelRun::new(inv, conf.clone(), run_id, p.plan, remote);
            run.mirror.db = db;
            run.mirror.schema_changes = std::mem::take(&mut report.schema_changes);
            let result = run.run_steps(&p.table, &p.fields, &p.refill);
            report.schema_changes = std::mem::take(&mut run.mirror.schema_changes);
            report.read_started = run.mirror.read_started;
            report.max_write_date = run.mirror.max_write_date;
            report.splits = run.mirror.splits();
            report.batch = Some(run.mirror.batch_memory());
            report.window = run.mirror.window;
            report.recheck_margin_s = run.mirror.recheck_margin_s(RECHECK_SECS);
            db = std::mem::take(&mut run.mirror.db);
            result
        }
    };
    report.db = db.total;
    if let Some(r) = session.remote() {
        report.odoo = OdooWork::between(before, (r.counts(), r.waited()));
    }
    report
}

/// The plan of a model's run: its fields, its columns, its table.
struct Planned {
    fields: Vec<OdooField>,
    plan: ModelPlan,
    table: TableOutcome,
    /// Fields the sync user may read again, whose columns exist: filled by a pass of their own.
    refill: Vec<String>,
}

fn plan(inv: &Invocation, conf: &ModelConf, remote: &mut Remote, mirrored: &BTreeSet<String>, db: &mut DbClock, changes: &mut Vec<String>) -> Result<Planned, SyncError> {
    let model = conf.model.as_str();
    let known = db.txn(|| fields::known_fields(model))?;
    let ask = conf.schema_due || known.is_empty() || inv.job == Job::FullResync;
    let fields: Vec<OdooField> = if ask {
        let answer = remote.fields_get(model).map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: fields_get")))?;
        answer.iter().map(|(name, attrs)| OdooField::from_fields_get(name, attrs)).collect()
    } else {
        known
    };
    // A field the sync user could not read is tried again with each field check: granting the
    // right in Odoo is enough to get it.
    let mut refill = Vec::new();
    if ask {
        for field in db.txn(|| fields::unreadable(model))? {
            if readable(remote, model, &field) {
                // Filled by this run's refresh of its column, or by a full pass if the run fails.
                db.txn(|| {
                    fields::mark_readable(model, &field)?;
                    ModelState::owe_full_pass(model)
                })?;
                changes.push(format!("field {field} is readable again: its column is filled"));
                refill.push(field);
            }
        }
    }
    let choices = db.txn(|| fields::choices(model))?;
    let plan = mapping::plan_model(&fields, &choices).map_err(|e| SyncError::new(state::DATA_EXCEPTION, format!("{model}: {e}")))?;
    if ask {
        changes.extend(db.txn(|| fields::save_fields(model, &fields, &plan))?);
    }
    let table = db.txn(|| {
        let table = schema::ensure_table(conf, &plan, mirrored)?;
        if table.needs_full_pass {
            ModelState::owe_full_pass(model)?;
        }
        Ok(table)
    })?;
    changes.extend(table.changes.iter().cloned());
    interrupt::check()?;
    Ok(Planned { fields, plan, table, refill })
}

/// Whether the sync user may read `field` of `model` now (one record of it, nothing else).
fn readable(remote: &mut Remote, model: &str, field: &str) -> bool {
    let (m, f) = (model.to_owned(), field.to_owned());
    match remote.call(move |c| c.search_read(&m, &serde_json::json!([]), &[f], "id asc", 1)) {
        Ok(_) => true,
        Err(e) => e.unreadable_field(model).is_none(),
    }
}

impl ModelRun<'_> {
    /// The copy and its checks, again without a field each time Odoo refuses to read one to the
    /// sync user: what was written stays, and the steps start over with the new plan.
    fn run_steps(&mut self, table: &TableOutcome, fields: &[OdooField], refill: &[String]) -> Result<Done, SyncError> {
        let model = self.model().to_owned();
        for _ in 0..=fields.len() {
            let e = match self.steps(table, refill) {
                Ok(done) => return Ok(done),
                Err(e) => e,
            };
            let Some(field) = e.odoo.as_ref().and_then(|o| o.unreadable_field(&model)).map(str::to_owned) else { return Err(e) };
            // The second line of Odoo's message says which model the user may not read.
            let why = e.odoo.as_ref().and_then(|o| match o {
                scrap_sga_core::odoo::OdooError::AccessDenied { message, .. } => message.lines().nth(1).map(str::to_owned),
                _ => None,
            });
            let why = why.unwrap_or_else(|| "Odoo refused to read it".into());
            self.mirror.db.txn(|| fields::mark_unreadable(&model, &field, &why))?;
            self.mirror.schema_changes.push(format!("field {field} not copied: the sync user may not read it ({why})"));
            warning!("scrap_sga: {model}: field {field} is left out: the sync user may not read it ({why}); grant the right in Odoo, the next field check takes it back");
            let choices = self.mirror.db.txn(|| fields::choices(&model))?;
            let plan = mapping::plan_model(fields, &choices).map_err(|e| SyncError::new(state::DATA_EXCEPTION, format!("{model}: {e}")))?;
            self.mirror.db.txn(|| fields::save_fields(&model, fields, &plan))?;
            self.mirror.replan(plan);
        }
        Err(SyncError::new(state::INTERNAL, format!("{model}: every field was refused")))
    }

    fn steps(&mut self, table: &TableOutcome, refill: &[String]) -> Result<Done, SyncError> {
        let (inv, conf) = (self.inv, self.mirror.conf.clone());
        self.note_queue()?;
        // A resync copies one record and those that point to it, nothing else.
        if let Job::Resync { id } = inv.job {
            self.resync_record(inv.model.as_deref().unwrap_or_default(), id)?;
            return Ok(Done { mode: RunMode::Resync, sets_window: false, reconciled: false, computed_refreshed: false });
        }
        // The records waiting in the queue (all of them for resync_failed), then the copy.
        let retry_all = inv.job == Job::RetryFailed;
        self.retry_queued(retry_all)?;
        if retry_all {
            return Ok(Done { mode: RunMode::Retry, sets_window: false, reconciled: false, computed_refreshed: false });
        }
        let full = inv.job == Job::FullResync || conf.cursor.is_none() || table.created || table.needs_full_pass || !self.mirror.plan.has_field("write_date");
        let mut late_check = None;
        if full {
            self.copy_all()?;
        } else {
            // Anchored on Odoo's clock when the previous run read; a run from before that was
            // kept (or a server without a Date header) falls back on the newest write_date copied.
            let anchor = conf.read_at.or(conf.cursor).expect("an incremental run has a cursor");
            let window = Window {
                recheck_from: conf.recheck_from,
                recheck_margin_s: conf.recheck_margin_s,
                since: anchor.minus_seconds(conf.lookback_secs),
                baseline: conf.window,
            };
            late_check = self.copy_changes(&window)?.map(|older| (window, older));
            self.refresh_columns(refill, "filling the columns of fields readable again")?;
        }
        // Deletions since the last run, cheaply; or every pair compared when due.
        let reconcile_now = !table.created && (matches!(inv.job, Job::FullResync | Job::Reconcile) || conf.reconcile_due);
        if reconcile_now {
            self.reconcile(IdRange::ALL, conf.parallel)?;
        } else if !table.created {
            self.find_deletions()?;
            // After the deletion check, which found what was deleted or created late (it changes
            // the model's count and id sum), what is left to find before the previous run is a
            // late rewrite.
            if let Some((window, older)) = late_check {
                self.copy_late_commits(&window, older)?;
            }
        }
        // Computed fields whose value may have changed without write_date moving.
        let refresh_computed = conf.computed_due || full;
        if refresh_computed && !full {
            self.refresh_computed()?;
        }
        let mode = if full { RunMode::Full } else { RunMode::Incremental };
        Ok(Done { mode, sets_window: true, reconciled: reconcile_now || table.created, computed_refreshed: refresh_computed })
    }
}

/// The run's end in the run log and, for a success, the model's state, in one transaction.
fn finish(inv: &Invocation, conf: &ModelConf, run_id: i64, report: Report, session: &Session) -> Outcome {
    let mode = report.result.as_ref().ok().map(|d| d.mode);
    let keeps_cursor = matches!(inv.job, Job::Resync { .. } | Job::RetryFailed);
    let cursor_after = if keeps_cursor { conf.cursor } else { report.max_write_date.or(conf.cursor) };
    let end = RunEnd {
        mode,
        protocol: session.protocol,
        odoo_version: session.version.as_deref(),
        requests: report.odoo.requests,
        splits: report.splits,
        waits: report.odoo.waits,
        odoo_time: report.odoo.time,
        db_time: report.db,
        cursor_after,
        schema_changes: report.schema_changes.clone(),
        reconciled: report.result.as_ref().is_ok_and(|d| d.reconciled),
    };
    let model = conf.model.as_str();
    let batch = report.batch;
    let written = txn::in_transaction(|| {
        if let Ok(done) = &report.result {
            ModelState::advance(
                model,
                &Progress {
                    cursor: cursor_after,
                    read_at: report.read_started,
                    sets_window: done.sets_window,
                    recheck_secs: RECHECK_SECS,
                    reconciled: done.reconciled,
                    computed_refreshed: done.computed_refreshed,
                    window: report.window,
                    recheck_margin_s: report.recheck_margin_s,
                },
            )?;
        }
        if let Some((size, weight)) = batch {
            ModelState::remember_batch(model, size, weight)?;
        }
        RunLog::finish(run_id, &end, report.result.as_ref().err())
    });
    let error = match (report.result, written) {
        (Ok(done), Ok(())) => {
            let c = txn::in_transaction(|| Ok(Spi::get_three_with_args::<i64, i64, i64>(
                "SELECT fetched, inserted + updated + restored + deleted, deleted FROM scrap_sga.sync_run WHERE run_id = $1",
                &[run_id.into()],
            )?));
            if let Ok((Some(fetched), Some(written), Some(deleted))) = c {
                if written > 0 || !end.schema_changes.is_empty() {
                    log!("scrap_sga: synced {model} (run {run_id}, {}): {fetched} fetched, {written} written, {deleted} deleted", done.mode.as_str());
                }
            }
            None
        }
        // The run's last transaction (cursor, window, NOTIFY) failed: nothing of it moved, and
        // the run is failed like any other, so that the caller hears of it (with the run's own
        // error if it had one). Recorded once more; if that fails too, the model's next run
        // marks it failed.
        (Ok(_), Err(e)) | (Err(e), Err(_)) => {
            let _ = txn::in_transaction(|| RunLog::finish(run_id, &end, Some(&e)));
            Some(e)
        }
        (Err(e), Ok(())) => Some(e),
    };
    if let Some(e) = &error {
        warning!("scrap_sga: sync of {model} failed (run {run_id}): {}", e.message);
    }
    Outcome { error }
}
