//! Which steps a run takes, in which order, from the job and what the model's state says.
use scrap_sga_core::ids::OdooId;
use scrap_sga_core::mapping::OdooField;

use super::context::ModelRun;
use super::window::Window;
use super::job::Job;
use super::schema::TableOutcome;
use crate::catalog::run_log::RunMode;
use crate::errors::{state, SyncError};

impl ModelRun<'_> {
    /// The copy and its checks, again without a field each time Odoo refuses to read one to the
    /// sync user: what was written stays, and the steps start over with the new plan.
    pub fn run_steps(&mut self, table: &TableOutcome, fields: &[OdooField], refill: &[String]) -> Result<(), SyncError> {
        for _ in 0..=fields.len() {
            match self.steps(table, refill) {
                Ok(()) => return Ok(()),
                Err(e) if self.leave_out_unreadable(&e, fields)? => {}
                Err(e) => return Err(e),
            }
        }
        Err(SyncError::new(state::INTERNAL, format!("{}: every field was refused", self.model())))
    }

    fn steps(&mut self, table: &TableOutcome, refill: &[String]) -> Result<(), SyncError> {
        let (inv, conf) = (self.inv, self.mirror.conf().clone());
        self.note_queue()?;
        // A resync copies one record and those that point to it, nothing else.
        if let Job::Resync { id } = inv.job {
            self.resync_record(inv.model.as_deref().unwrap_or_default(), OdooId::from_column(id))?;
            self.mirror.succeeded(RunMode::Resync, false, false, false);
            return Ok(());
        }
        // The records waiting in the queue (all of them for resync_failed), then the copy.
        let retry_all = inv.job == Job::RetryFailed;
        self.retry_queued(retry_all)?;
        if retry_all {
            self.mirror.succeeded(RunMode::Retry, false, false, false);
            return Ok(());
        }
        let full = matches!(inv.job, Job::FullResync { .. }) || conf.pass_pending || conf.cursor.is_none() || table.created || table.needs_full_pass || !self.mirror.plan().has_field("write_date");
        // Anchored on Odoo's clock when the previous run read; a run from before that was kept
        // (or a server without a Date header) falls back on the newest write_date copied. A run
        // with a cursor has one of them: only a full pass has none.
        let anchor = conf.read_at.or(conf.cursor).filter(|_| !full);
        let mut late_check = None;
        match anchor {
            None => self.copy_all(table.created)?,
            Some(anchor) => {
                let window = Window {
                    recheck_from: conf.recheck_from,
                    recheck_margin_s: conf.recheck_margin_s,
                    since: anchor.minus_seconds(conf.lookback_secs),
                    baseline: conf.window,
                };
                late_check = self.copy_changes(&window)?.map(|older| (window, older));
                self.refresh_columns(refill, "filling the columns of fields readable again")?;
            }
        }
        // Deletions since the last run, cheaply; or every pair compared when asked, or when due
        // and no full pass just read every record (a pass that resumed, or the one owed after
        // new columns, counts as one: what it did not see, the deletion check finds).
        let reconcile_now = !table.created && (matches!(inv.job, Job::FullResync { .. } | Job::Reconcile) || (conf.reconcile_due && !full));
        if reconcile_now {
            self.reconcile_all(conf.parallel)?;
            self.refresh_referenced_names()?;
        } else if !table.created {
            self.find_deletions()?;
            // After the deletion check, which found what was deleted or created late (it changes
            // the model's count and id sum), what is left to find before the previous run is a
            // late rewrite.
            if let Some((window, older)) = late_check {
                self.copy_late_commits(&window, older)?;
            }
        }
        // Names of the records the many2ones point to, renamed without these being written.
        if full {
            self.display_names_fresh()?;
        } else {
            self.refresh_display_names()?;
        }
        // Computed fields whose value may have changed without write_date moving.
        let refresh_computed = conf.computed_due || full;
        if refresh_computed && !full {
            self.refresh_computed()?;
        }
        let mode = if full { RunMode::Full } else { RunMode::Incremental };
        self.mirror.succeeded(mode, true, reconcile_now || full, refresh_computed);
        Ok(())
    }
}
