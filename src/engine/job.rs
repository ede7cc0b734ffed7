//! What an invocation is asked to do, and what each model's run came to.
use crate::errors::SyncError;

/// What an invocation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Copy what changed (and reconcile when due).
    Sync,
    /// Read everything again, and reconcile.
    FullResync,
    /// Sync, and reconcile id sets now.
    Reconcile,
    /// One record of `model` (the invocation's model), with the records that point to it.
    Resync { id: i64 },
    /// Every record waiting in scrap_sga.failed_record, due or not.
    RetryFailed,
}

impl Job {
    pub fn name(&self) -> &'static str {
        match self {
            Job::Sync => "sync",
            Job::FullResync => "full_resync",
            Job::Reconcile => "reconcile",
            Job::Resync { .. } => "resync",
            Job::RetryFailed => "resync_failed",
        }
    }

    pub fn parse(name: &str, odoo_id: Option<i64>) -> Option<Job> {
        Some(match (name, odoo_id) {
            ("sync", _) => Job::Sync,
            ("full_resync", _) => Job::FullResync,
            ("reconcile", _) => Job::Reconcile,
            ("resync", Some(id)) => Job::Resync { id },
            ("resync_failed", _) => Job::RetryFailed,
            _ => return None,
        })
    }
}

pub struct Invocation {
    pub id: i64,
    pub job: Job,
    /// One model, or every enabled model.
    pub model: Option<String>,
    /// Started by the background worker's schedule (recorded as trigger `worker`).
    pub scheduled: bool,
    /// Manual runs wait for a run of the same model already under way; the worker skips it.
    pub wait_for_lock: bool,
}

impl Invocation {
    /// `sync_run.trigger`.
    pub fn trigger(&self) -> &'static str {
        if self.scheduled {
            return "worker";
        }
        match self.job {
            Job::Sync => "manual",
            _ => self.job.name(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub run_id: i64,
    pub skipped: bool,
    pub error: Option<SyncError>,
    pub listed: i64,
    pub fetched: i64,
    pub written: i64,
    pub deleted: i64,
    pub failed: i64,
    /// Records reconcile found out of date and read again.
    pub repaired: i64,
    /// Odoo's clock at the first answer of the copy (see scrap_sga.model.recheck_from).
    pub read_started: Option<String>,
    pub odoo_secs: f64,
    pub db_secs: f64,
}
