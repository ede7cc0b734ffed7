//! The sync engine. For each model of an invocation ([`run_invocation`]), under the model's lock
//! (`lock`), one run with its row in the run log (`report`):
//!
//! 1. plan (`plan`): ask Odoo for the fields when due (`schema_refresh`), map them to columns,
//!    create or extend the mirror table (`schema`);
//! 2. the steps (`steps` chooses them), each a method of the run's context (`context::ModelRun`)
//!    in a module of its own:
//!    * copy: a full pass (`full`, over several id ranges at once with `streams`) the first
//!      time, after new columns, or on full_resync; otherwise an incremental pass over the
//!      `write_date` window anchored on Odoo's clock (`incremental`);
//!    * deletions: compare Odoo's record count with the mirror's, and find what went
//!      (`deletions`);
//!    * reconcile `(id, write_date)` pairs when due (`reconcile`): repairs what the window
//!      missed;
//!    * display names of many2ones that follow the records they name (`display`);
//!    * refresh opted-in computed fields when due (`computed`);
//!    * the retry queue (`retry`), one record now (`resync`);
//! 3. the end (`report`): the run log's row and, for a success, the model's state, from the
//!    run's report, in one transaction.
//!
//! A field the sync user may not read is left out when Odoo says so, and the run goes on without
//! it. Every write to a mirror table is the mirror's (`mirror`); the run log, the retry queue
//! and the model's state are written through their owners in `catalog`. Nothing here holds a
//! transaction while Odoo is being asked: each page is written in a short transaction of its
//! own, and the cursor moves only when the whole run has committed, so a run that dies half-way
//! is done again, harmlessly.
mod computed;
mod context;
mod deletions;
mod display;
mod full;
mod halving;
mod incremental;
mod job;
mod lock;
mod mirror;
mod names;
mod plan;
mod prepare;
mod reader;
mod reconcile;
mod remote;
mod report;
mod resync;
mod retry;
pub mod schema;
mod session;
mod steps;
mod streams;
mod window;

pub use job::{Invocation, Job, JobArgs};
#[cfg(any(test, feature = "pg_test"))]
pub use mirror::upsert;
pub use session::Session;
pub use streams::{fetch, Event, Listing, SharedSizer};

use pgrx::prelude::*;
use std::collections::BTreeSet;

use crate::catalog::run_log::RunLog;
use crate::catalog::{self, connection, fields};
use names::DisplayNames;
use crate::errors::SyncError;
use crate::{budget, txn};

/// Run every model of an invocation, one result per model (a model whose run another one was
/// doing is skipped: `Ok`). Failures are recorded in the run log too: the caller reads the
/// runs there.
pub fn run_invocation(inv: &Invocation) -> Vec<Result<(), SyncError>> {
    let models = match txn::in_transaction(|| match inv.job {
        // A resync touches the record's model and the models that point to it (its lines).
        Job::Resync { .. } => catalog::models::resync_models(inv.model.as_deref().unwrap_or_default()),
        _ => catalog::models::models(inv.model.as_deref()),
    }) {
        Ok(m) => m,
        Err(e) => {
            let name = inv.model.clone().unwrap_or_else(|| "*".into());
            let _ = txn::in_transaction(|| RunLog::record_failure(inv.id, &name, inv.trigger(), &e));
            return vec![Err(e)];
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
    // The display names of related models, asked once for the invocation's models together.
    let ask_from = txn::in_transaction(|| fields::display_ask_from(&mirrored.iter().cloned().collect::<Vec<_>>())).unwrap_or_default();
    let mut names = DisplayNames::new(ask_from);
    let results = models.iter().map(|conf| report::run_model(inv, conf, &mut session, &mirrored, &mut names)).collect();
    if let Err(e) = session.remember_findings() {
        warning!("scrap_sga: keeping how Odoo answers fingerprints failed: {}", e.message);
    }
    // Each on its own: a bad retention setting for one log must not keep the other growing.
    for (log, prune) in [("the audit log", "SELECT scrap_sga.prune_audit()"), ("the run log", "SELECT scrap_sga.prune_runs()")] {
        if let Err(e) = txn::in_transaction(|| Ok(Spi::run(prune)?)) {
            warning!("scrap_sga: pruning {log} failed: {}", e.message);
        }
    }
    results
}
