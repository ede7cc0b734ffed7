//! The sync engine. For each model of an invocation:
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
//! Records are read by id through one loop (`reread`), whatever found them. `job` holds the
//! types of an invocation, `session` its connection to Odoo, `runlog` the end of each run.
//!
//! Nothing here holds a transaction while Odoo is being asked: each page is written in a short
//! transaction of its own (`pages`), and the cursor moves only when the whole run has committed,
//! so a run that dies half-way is done again, harmlessly.
pub mod apply;
mod computed;
mod deletions;
mod full;
mod incremental;
mod job;
mod pages;
mod reconcile;
mod remote;
mod reread;
mod resync;
mod retry;
mod runlog;
pub mod schema;
mod session;
mod streams;

pub use job::{Invocation, Job, Outcome};
use runlog::{finish_failed, finish_succeeded, Done};
use session::Session;

use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use scrap_sga_core::mapping::{self, OdooField};
use scrap_sga_core::odoo::OdooError;
use std::collections::BTreeMap;

use crate::catalog::{self, ModelConf};
use crate::errors::{state, SyncError};
use crate::txn;

pub(crate) fn shutdown_requested() -> bool {
    unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 }
}

pub(crate) fn check_interrupts() -> Result<(), SyncError> {
    if shutdown_requested() {
        return Err(SyncError::new(state::ADMIN_SHUTDOWN, "stopped: the server is shutting down or the run was cancelled"));
    }
    Ok(())
}

/// An Odoo error as the engine reports it: inside a worker, an interrupted request means we
/// were told to stop (SIGTERM), which is 57P01 rather than a cancelled query.
pub(crate) fn odoo_error(e: &OdooError) -> SyncError {
    match e {
        OdooError::Interrupted => check_interrupts().err().unwrap_or_else(|| SyncError::from_odoo(e)),
        _ => SyncError::from_odoo(e),
    }
}

pub(crate) fn page_error(e: &OdooError, model: &str, what: &str, page: usize, after_id: i64) -> SyncError {
    odoo_error(e).context(format!("{model}: {what}, page {page} (ids after {after_id})"))
}

/// Run every model of an invocation. Failures are recorded in the run log, never raised: the
/// caller reads the outcome there.
pub fn run_invocation(inv: &Invocation) -> Vec<Outcome> {
    let models = match txn::in_transaction(|| match inv.job {
        // A resync touches the record's model and the models that point to it (its lines).
        Job::Resync { .. } => catalog::resync_models(inv.model.as_deref().unwrap_or_default()),
        _ => catalog::models(inv.model.as_deref()),
    }) {
        Ok(m) => m,
        Err(e) => {
            let name = inv.model.clone().unwrap_or_else(|| "*".into());
            let _ = txn::in_transaction(|| {
                Spi::connect_mut(|c| {
                    let run_id = catalog::start_run(c, inv.id, &name, inv.trigger(), None)?;
                    finish_failed(c, run_id, &e, None, 0, &Outcome::default())
                })
            });
            return vec![Outcome { error: Some(e), ..Default::default() }];
        }
    };
    let mirrored: BTreeMap<String, String> = models.iter().map(|m| (m.model.clone(), m.table_name.clone())).collect();
    let settings = txn::in_transaction(crate::connection::load);
    if let Ok(s) = &settings {
        if s.url.starts_with("http://") && !scrap_sga_core::odoo::client::is_loopback(&s.url) {
            warning!(
                "scrap_sga: the Odoo connection uses plain HTTP to {}: the secret crosses the network unencrypted",
                scrap_sga_core::odoo::client::display_url(&s.url)
            );
        }
    }
    let mut session = Session::new(settings);
    let outcomes = models.iter().map(|conf| run_model(inv, conf, &mut session, &mirrored)).collect();
    if let Err(e) = txn::in_transaction(|| Ok(Spi::run("SELECT scrap_sga.prune_audit(), scrap_sga.prune_runs()")?)) {
        warning!("scrap_sga: pruning the audit log or the run log failed: {}", e.message);
    }
    outcomes
}

fn lock_key(model: &str) -> String {
    format!("hashtext('scrap_sga'), hashtext({})", scrap_sga_core::ident::literal(model))
}

/// One model of an invocation: its lock, its run-log row, the sync, the bookkeeping.
fn run_model(inv: &Invocation, conf: &ModelConf, session: &mut Session, mirrored: &BTreeMap<String, String>) -> Outcome {
    let mut out = Outcome::default();
    let key = lock_key(&conf.model);
    // A session-level advisory lock: it outlives the page transactions, so a manual sync() and
    // the worker never work on the same model at once.
    let locked = txn::in_transaction(|| {
        let sql = if inv.wait_for_lock { format!("SELECT pg_advisory_lock({key}), true") } else { format!("SELECT null::void, pg_try_advisory_lock({key})") };
        Ok(Spi::get_two::<(), bool>(&sql)?.1.unwrap_or(false))
    });
    match locked {
        Ok(true) => {}
        Ok(false) => {
            out.skipped = true;
            return out;
        }
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    }
    // Read the model again now that we hold its lock: a run that just finished moved its cursor.
    let conf = match txn::in_transaction(|| catalog::models(Some(&conf.model))) {
        Ok(mut v) if !v.is_empty() => v.remove(0),
        _ => conf.clone(),
    };
    match txn::in_transaction(|| Spi::connect_mut(|c| catalog::start_run(c, inv.id, &conf.model, inv.trigger(), conf.cursor.as_deref()))) {
        Ok(run_id) => {
            out.run_id = run_id;
            let requests_before = session.requests();
            let result = sync_model(&ModelRun { inv, conf: &conf, run_id }, session, mirrored, &mut out);
            let requests = session.requests() - requests_before;
            let finished = match &result {
                Ok(done) => txn::in_transaction(|| finish_succeeded(&conf, run_id, done, &session, requests, &out)),
                Err(e) => txn::in_transaction(|| Spi::connect_mut(|c| finish_failed(c, run_id, e, Some(&session), requests, &out))),
            };
            let failure = match (result, finished) {
                (Ok(_), Err(e)) => {
                    // The run's last transaction (cursor, window, NOTIFY) failed: nothing of it
                    // moved, and the run is failed like any other, so that the caller hears of it.
                    let _ = txn::in_transaction(|| Spi::connect_mut(|c| finish_failed(c, run_id, &e, Some(session), requests, &out)));
                    Some(e)
                }
                (Err(e), _) => Some(e),
                (Ok(done), Ok(())) => {
                    if out.written > 0 || !done.schema_changes.is_empty() {
                        log!(
                            "scrap_sga: synced {} (run {run_id}, {}): {} fetched, {} written, {} deleted",
                            conf.model, done.mode, out.fetched, out.written, out.deleted
                        );
                    }
                    None
                }
            };
            if let Some(e) = failure {
                warning!("scrap_sga: sync of {} failed (run {run_id}): {}", conf.model, e.message);
                out.error = Some(e);
            }
        }
        Err(e) => out.error = Some(e),
    }
    let _ = txn::in_transaction(|| Ok(Spi::run(&format!("SELECT pg_advisory_unlock({key})"))?));
    out
}

/// Odoo datetime text minus some seconds (the lookback window). The text comes from our own
/// catalog: one that does not parse is a bug, reported as such rather than read as 1970 (which
/// would silently re-read every record).
fn minus_seconds(odoo_datetime: &str, secs: i64) -> Result<String, SyncError> {
    chrono::NaiveDateTime::parse_from_str(odoo_datetime, "%Y-%m-%d %H:%M:%S")
        .map(|t| (t - chrono::Duration::seconds(secs)).format("%Y-%m-%d %H:%M:%S").to_string())
        .map_err(|e| SyncError::new(state::INTERNAL, format!("scrap_sga.model holds a time that does not parse ({odoo_datetime:?}: {e})")))
}

/// One model's run: which invocation asked for it, the model, its row in the run log.
struct ModelRun<'a> {
    inv: &'a Invocation,
    conf: &'a ModelConf,
    run_id: i64,
}

fn sync_model(run: &ModelRun, session: &mut Session, mirrored: &BTreeMap<String, String>, out: &mut Outcome) -> Result<Done, SyncError> {
    let (inv, conf, run_id) = (run.inv, run.conf, run.run_id);
    let model = conf.model.as_str();
    session.ensure()?;

    // 1. Plan: ask Odoo for the fields when due, otherwise reuse what it said last time.
    let known = txn::in_transaction(|| catalog::known_fields(model))?;
    let copy_computed = txn::in_transaction(|| catalog::copy_computed(model))?;
    let ask = conf.schema_due || known.is_empty() || inv.job == Job::FullResync;
    let remote = session.remote.as_mut().unwrap();
    let fields: Vec<OdooField> = if ask {
        let answer = remote.fields_get(model).0.map_err(|e| page_error(&e, model, "fields_get", 1, 0))?;
        answer.iter().map(|(name, attrs)| OdooField::from_fields_get(name, attrs)).collect()
    } else {
        known
    };
    let plan = mapping::plan_model(&fields, &copy_computed).map_err(|e| SyncError::new(state::DATA_EXCEPTION, format!("{model}: {e}")))?;
    let mut schema_changes = Vec::new();
    if ask {
        schema_changes.extend(txn::in_transaction(|| catalog::save_fields(model, &fields, &plan))?);
    }
    let table = txn::in_transaction(|| schema::ensure_table(conf, &plan, mirrored))?;
    schema_changes.extend(table.changes.iter().cloned());
    check_interrupts()?;

    let t = format!("{}.{}", quote(&conf.table_schema), quote(&conf.table_name));
    let mut writer = pages::PageWriter::new(model, &plan, &conf.table_schema, &conf.table_name, run_id, conf.page_size, conf.cursor.clone());
    let done = |mode, sets_recheck, reconciled, computed_refreshed, cursor_after, schema_changes| Done {
        mode,
        sets_recheck,
        reconciled,
        computed_refreshed,
        cursor_after,
        schema_changes,
    };

    // A resync copies one record and those that point to it, nothing else.
    if let Job::Resync { id } = inv.job {
        let parent = inv.model.as_deref().unwrap_or_default();
        resync::resync_record(remote, &mut writer, conf, parent, id, out)?;
        return Ok(done("resync", false, false, false, conf.cursor.clone(), schema_changes));
    }

    // 2. Retry the records waiting in the queue (all of them for resync_failed), then copy.
    let retry_all = inv.job == Job::RetryFailed;
    retry::retry_queued(remote, &mut writer, conf, retry_all, out)?;
    if retry_all {
        return Ok(done("retry", false, false, false, conf.cursor.clone(), schema_changes));
    }
    let full = inv.job == Job::FullResync || conf.cursor.is_none() || table.created || table.needs_full_pass || !plan.has_field("write_date");
    if full {
        full::copy_all(remote, &mut writer, conf.parallel, out)?;
    } else {
        // Anchored on Odoo's clock when the previous run read; a run from before that was kept
        // (or a server without a Date header) falls back on the newest write_date copied.
        let anchor = conf.read_at.as_deref().or(conf.cursor.as_deref()).unwrap();
        let window = incremental::Window { recheck_from: conf.recheck_from.clone(), since: minus_seconds(anchor, conf.lookback_secs)? };
        incremental::copy_changes(remote, &mut writer, &t, &window, out)?;
    }

    // 3. Deletions since the last run, cheaply; 4. every pair compared when due.
    let reconcile_now = !table.created && (matches!(inv.job, Job::FullResync | Job::Reconcile) || conf.reconcile_due);
    if reconcile_now {
        reconcile::reconcile_range(remote, &mut writer, &t, reconcile::IdRange::ALL, conf.parallel, out)?;
    } else if !table.created {
        deletions::find_deletions(remote, &mut writer, &t, out)?;
    }

    // 5. Computed fields whose value may have changed without write_date moving.
    let refresh_computed = conf.computed_due || full;
    if refresh_computed && !full {
        computed::refresh_computed(remote, &plan, conf, run_id, out)?;
    }
    Ok(done(
        if full { "full" } else { "incremental" },
        true,
        reconcile_now || table.created,
        refresh_computed,
        writer.max_write_date.clone(),
        schema_changes,
    ))
}
