//! One model's run from its start to its end: the model's lock, its row in the run log, one
//! attempt (a second one when the server may have changed since it was found out), and the end
//! written from the run's report: the run log's row and, for a success, the model's state, in
//! one transaction.
use pgrx::prelude::*;
use std::collections::BTreeSet;
use std::time::Duration;

use super::context::ModelRun;
use super::names::DisplayNames;
use super::job::Invocation;
use super::lock::ModelLock;
use super::mirror::Mirror;
use super::plan::plan;
use super::remote::ClientCounts;
use super::session::Session;
use crate::catalog::model_state::ModelState;
use crate::catalog::full_pass::FullPass;
use crate::catalog::run_log::{Report, RunLog, RunMode};
use crate::catalog::{self, ModelConf};
use crate::errors::SyncError;
use crate::txn;

/// One model of an invocation: its lock, its run, the run's end. Ok when another run held the
/// lock and this one need not wait (the scheduler's).
pub fn run_model(inv: &Invocation, conf: &ModelConf, session: &mut Session, mirrored: &BTreeSet<String>, names: &mut DisplayNames) -> Result<(), SyncError> {
    let Some(_lock) = ModelLock::take(&conf.model, inv.wait_for_lock)? else { return Ok(()) };
    // Read the model again now that we hold its lock: a run that just finished moved its cursor.
    let mut conf = reread(conf);
    let run_id = txn::in_transaction(|| RunLog::start(inv.id, &conf.model, inv.trigger(), conf.cursor))?;
    let (mut result, mut report) = attempt(inv, &conf, run_id, session, mirrored, names);
    if result.as_ref().is_err_and(|e| session.may_have_changed(e)) && session.rediscover().is_ok() {
        // The server may not be what it was when last found out (upgraded, moved): find it out
        // again, and try once more within the same run, from the model's state as the first try
        // left it (a full pass it made owed).
        conf = reread(&conf);
        let (again, next) = attempt(inv, &conf, run_id, session, mirrored, names);
        (result, report) = (again, report.then(next));
    }
    if let Err(e) = &result {
        session.note_failure(e);
    }
    (report.protocol, report.odoo_version) = (session.protocol, session.version.clone());
    end(&conf.model, run_id, result, &report)
}

/// The model's row as it is now (as `conf` was, if it cannot be read).
fn reread(conf: &ModelConf) -> ModelConf {
    match txn::in_transaction(|| catalog::models::models(Some(&conf.model))) {
        Ok(mut v) if !v.is_empty() => v.remove(0),
        _ => conf.clone(),
    }
}

/// What the remote did so far: its counts, and the time waited for it.
fn odoo_work(session: &Session) -> (ClientCounts, Duration) {
    session.remote().map(|r| (r.counts(), r.waited())).unwrap_or_default()
}

/// Plan and run the steps once, and what the attempt did (with what it asked of Odoo: an
/// attempt after a rediscovery has a new client, counting from zero).
fn attempt(
    inv: &Invocation,
    conf: &ModelConf,
    run_id: i64,
    session: &mut Session,
    mirrored: &BTreeSet<String>,
    names: &mut DisplayNames,
) -> (Result<(), SyncError>, Report) {
    let mut report = Report::default();
    let before = odoo_work(session);
    let result = match session.ensure() {
        Err(e) => Err(e),
        Ok(remote) => match plan(inv, conf, remote, mirrored, &mut report) {
            Err(e) => Err(e),
            Ok(p) => {
                let mut run = ModelRun::new(inv, remote, Mirror::new(conf.clone(), run_id, p.plan, report), names);
                let result = run.run_steps(&p.table, &p.fields, &p.refill);
                report = run.finish();
                result
            }
        },
    };
    let after = odoo_work(session);
    report.requests += after.0.requests.saturating_sub(before.0.requests);
    report.waits += after.0.waits.saturating_sub(before.0.waits);
    report.odoo_time += after.1.saturating_sub(before.1);
    (result, report)
}

/// The run's end in the run log and, for a success, the model's state, in one transaction.
fn end(model: &str, run_id: i64, result: Result<(), SyncError>, report: &Report) -> Result<(), SyncError> {
    let written = txn::in_transaction(|| {
        if result.is_ok() {
            ModelState::advance(model, report)?;
            if report.mode == Some(RunMode::Full) {
                FullPass::finish(model)?;
            }
        }
        if let Some((size, weight)) = report.batch {
            ModelState::remember_batch(model, size, weight)?;
        }
        RunLog::finish(run_id, report, result.as_ref().err())
    });
    let error = match (result, written) {
        (Ok(()), Ok(())) => {
            let c = &report.counts;
            let changed = c.inserted + c.updated + c.restored + c.deleted;
            if changed > 0 || !report.schema_changes.is_empty() {
                let mode = report.mode.map_or("", |m| m.as_str());
                log!("scrap_sga: synced {model} (run {run_id}, {mode}): {} fetched, {changed} written, {} deleted", c.fetched, c.deleted);
            }
            return Ok(());
        }
        // The run's last transaction (cursor, window, NOTIFY) failed: nothing of it moved, and
        // the run is failed like any other, so that the caller hears of it (with the run's own
        // error if it had one). Recorded once more; if that fails too, the model's next run
        // marks it failed.
        (Ok(()), Err(e)) | (Err(e), Err(_)) => {
            let _ = txn::in_transaction(|| RunLog::finish(run_id, report, Some(&e)));
            e
        }
        (Err(e), Ok(())) => e,
    };
    warning!("scrap_sga: sync of {model} failed (run {run_id}): {}", error.message);
    Err(error)
}
