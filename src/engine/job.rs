//! What an invocation is asked to do, and how a job worker is told (by value, in the worker's
//! `bgw_extra`).
use crate::catalog::run_log::Trigger;

/// What an invocation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Copy what changed (and reconcile when due).
    Sync,
    /// Read everything again, and reconcile. A full pass left unfinished resumes, unless `anew`.
    FullResync { anew: bool },
    /// Sync, and reconcile id sets now.
    Reconcile,
    /// One record of the invocation's model, with the records that point to it.
    Resync { id: i32 },
    /// Every record waiting in scrap_sga.failed_record, due or not.
    RetryFailed,
}

impl Job {
    /// The SQL interface's name of the job (`run_job('sync', ...)`).
    pub fn parse(name: &str, odoo_id: Option<i32>) -> Option<Job> {
        Some(match (name, odoo_id) {
            ("sync", _) => Job::Sync,
            ("full_resync", _) => Job::FullResync { anew: false },
            ("full_resync_anew", _) => Job::FullResync { anew: true },
            ("reconcile", _) => Job::Reconcile,
            ("resync", Some(id)) => Job::Resync { id },
            ("resync_failed", _) => Job::RetryFailed,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        match self {
            Job::Sync => 1,
            Job::FullResync { anew: false } => 2,
            Job::FullResync { anew: true } => 6,
            Job::Reconcile => 3,
            Job::Resync { .. } => 4,
            Job::RetryFailed => 5,
        }
    }
}

/// Everything a job worker needs, written by the backend that starts it into the worker's
/// `bgw_extra` as fixed-width binary fields (no text to parse, no length to run out of): the
/// model goes by its catalog row id, not by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobArgs {
    pub database: u32,
    pub role: u32,
    pub job: Job,
    /// `scrap_sga.model.model_id`, or 0 for every enabled model.
    pub model_id: i32,
}

impl JobArgs {
    const LEN: usize = 17;

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..4].copy_from_slice(&self.database.to_le_bytes());
        b[4..8].copy_from_slice(&self.role.to_le_bytes());
        b[8] = self.job.code();
        b[9..13].copy_from_slice(&self.model_id.to_le_bytes());
        let record = if let Job::Resync { id } = self.job { id } else { 0 };
        b[13..17].copy_from_slice(&record.to_le_bytes());
        b
    }

    /// None for anything [`JobArgs::to_bytes`] would not write: never a reason to run
    /// something else, or as someone else (role 0 would be the bootstrap superuser).
    pub fn from_bytes(b: &[u8]) -> Option<JobArgs> {
        let b: &[u8; Self::LEN] = b.get(..Self::LEN)?.try_into().ok()?;
        let four = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let u32_at = |i: usize| u32::from_le_bytes(four(i));
        let i32_at = |i: usize| i32::from_le_bytes(four(i));
        let job = match (b[8], i32_at(13)) {
            (1, _) => Job::Sync,
            (2, _) => Job::FullResync { anew: false },
            (6, _) => Job::FullResync { anew: true },
            (3, _) => Job::Reconcile,
            (4, id) => Job::Resync { id },
            (5, _) => Job::RetryFailed,
            _ => return None,
        };
        let args = JobArgs { database: u32_at(0), role: u32_at(4), job, model_id: i32_at(9) };
        (args.database != 0 && args.role != 0 && args.model_id >= 0).then_some(args)
    }
}

pub struct Invocation {
    pub id: i64,
    pub job: Job,
    /// One model, or every enabled model.
    pub model: Option<String>,
    /// Started by the background worker's schedule (recorded as trigger `worker`).
    pub scheduled: bool,
    /// Manual runs wait for a run of the same model already under way; the scheduler skips it.
    pub wait_for_lock: bool,
}

impl Invocation {
    /// `sync_run.trigger`.
    pub fn trigger(&self) -> Trigger {
        match (self.scheduled, self.job) {
            (true, _) => Trigger::Worker,
            (false, Job::Sync) => Trigger::Manual,
            (false, Job::FullResync { .. }) => Trigger::FullResync,
            (false, Job::Reconcile) => Trigger::Reconcile,
            (false, Job::Resync { .. }) => Trigger::Resync,
            (false, Job::RetryFailed) => Trigger::ResyncFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_arguments_round_trip_and_nothing_else_passes() {
        for job in [Job::Sync, Job::FullResync { anew: false }, Job::FullResync { anew: true }, Job::Reconcile, Job::Resync { id: 2_000_000_000 }, Job::RetryFailed] {
            let args = JobArgs { database: 16384, role: 10, job, model_id: 7 };
            assert_eq!(JobArgs::from_bytes(&args.to_bytes()), Some(args));
        }
        let ok = JobArgs { database: 1, role: 2, job: Job::Sync, model_id: 0 }.to_bytes();
        let mut no_role = ok;
        no_role[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(JobArgs::from_bytes(&no_role), None, "never the bootstrap superuser");
        let mut bad_job = ok;
        bad_job[8] = 9;
        assert_eq!(JobArgs::from_bytes(&bad_job), None);
        assert_eq!(JobArgs::from_bytes(&ok[..10]), None);
        assert_eq!(JobArgs::from_bytes(&[0u8; 128]), None, "an empty bgw_extra");
    }
}
