//! The scheduler: a background worker, registered when the library is in
//! `shared_preload_libraries`, that runs the sync engine every `scrap_sga.interval` in the
//! database named by `scrap_sga.database`. A thin loop: the engine does the work, and records it
//! in the run log as trigger `worker`.
//!
//! * It starts when recovery has finished: on a hot standby it stays idle (the mirror tables
//!   arrive by replication) and a promotion starts it.
//! * SIGTERM (fast shutdown, `pg_terminate_backend`) stops it within a fraction of a second,
//!   even during a slow Odoo answer; it exits with code 1 so that the postmaster restarts it
//!   after `RESTART_AFTER` unless the cluster is shutting down.
//! * SIGHUP re-reads the configuration: a new interval applies from the next wait.
//! * After failed cycles it waits longer (interval × 2^failures, at most an hour), and never
//!   less than a `Retry-After` Odoo (or a proxy) asked for.
//! * It works as `scrap_sga.worker_role`: it connects as that role; without one, as the
//!   extension's owner (it connects as the bootstrap superuser, which any role can be looked up
//!   as, then takes the owner's identity for the session before any sync). A change of the
//!   setting restarts it.
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::{Duration, Instant};

use crate::catalog::worker_state;
use crate::engine::{self, Invocation, Job};
use crate::{interrupt, settings, txn};

const RESTART_AFTER: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How long after a cycle's start the next one comes: the interval, doubled after each failed
/// cycle, and at least what Odoo's Retry-After asked; both up to an hour (or the interval, if
/// longer). Odoo's request is bounded too: a maintenance page asking for a day, or a header
/// asking for ever, would have stopped every model long after Odoo was back (or overflowed the
/// deadline, and the scheduler with it).
fn next_delay(interval: Duration, failures: u32, told_to_wait: Duration) -> Duration {
    let longest = MAX_BACKOFF.max(interval);
    interval.saturating_mul(2u32.saturating_pow(failures)).min(longest).max(told_to_wait.min(longest))
}

pub fn register() {
    // SAFETY: both globals are set by the postmaster before it loads preloaded libraries and do
    // not change while _PG_init runs, on the postmaster's only thread.
    if unsafe { !pg_sys::process_shared_preload_libraries_in_progress || pg_sys::IsBinaryUpgrade } {
        return;
    }
    BackgroundWorkerBuilder::new("scrap_sga scheduler")
        .set_type("scrap_sga scheduler")
        .set_library("scrap_sga")
        .set_function("scrap_sga_scheduler_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(RESTART_AFTER))
        .load();
}

fn interval() -> Duration {
    Duration::from_secs(settings::INTERVAL.get().max(1) as u64)
}

/// Record what the worker is doing, for scrap_sga.status. Ignored while the extension is absent.
fn set_state(state: &str, next_run_in: Option<Duration>, failures: u32) {
    let _ = txn::in_transaction(|| worker_state::record(state, next_run_in, failures, settings::INTERVAL.get()));
}

fn extension_present() -> bool {
    txn::in_transaction(|| Ok(Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'scrap_sga')")?.unwrap_or(false)))
        .unwrap_or(false)
}

/// Without `scrap_sga.worker_role`, act as the extension's owner from now on (the session's
/// identity, for every transaction after this one). Returns who that is, for the log.
fn become_extension_owner() -> Result<String, crate::errors::SyncError> {
    txn::in_transaction(|| {
        let (_, owner) = crate::job_worker::extension_owner()?;
        Spi::run(&format!("SET SESSION AUTHORIZATION {}", scrap_sga_core::ident::quote(&owner)))?;
        Ok(owner)
    })
}

/// Wait up to `d` on the latch; false when the worker must stop.
fn wait(d: Duration) -> bool {
    let deadline = Instant::now() + d;
    loop {
        if interrupt::pending() {
            return false;
        }
        if BackgroundWorker::sighup_received() {
            let role = settings::worker_role();
            // SAFETY: the scheduler's own thread, between two waits, as Postgres' own background
            // processes call it when their SIGHUP flag is set.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            // A connection's role is for life: a new one means a new process.
            if settings::worker_role() != role {
                log!("scrap_sga scheduler: scrap_sga.worker_role changed; restarting to connect as {:?}", settings::worker_role());
                return false;
            }
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        if !BackgroundWorker::wait_latch(Some(left.min(Duration::from_secs(1)))) {
            return false;
        }
    }
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn scrap_sga_scheduler_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = settings::database();
    let role = settings::worker_role();
    BackgroundWorker::connect_worker_to_spi(Some(&db), role.as_deref());
    log!("scrap_sga scheduler started in database {db:?}, every {} s, as {}", interval().as_secs(), role.as_deref().unwrap_or("the extension's owner"));
    let mut acting_as_owner = role.is_some();

    let mut failures: u32 = 0;
    let mut waiting_logged = false;
    let mut last_start: Option<Instant> = None;
    // The longest Retry-After the last cycle's runs were told (429 or 503 beyond what a run waits).
    let mut told_to_wait = Duration::ZERO;
    loop {
        // When is the next run due? An interval after the last start; a run that took longer
        // than the interval is followed by one run at once, never by a pile of them.
        let delay = next_delay(interval(), failures, told_to_wait);
        let due_in = last_start.map(|s| delay.saturating_sub(s.elapsed())).unwrap_or(Duration::ZERO);
        if !due_in.is_zero() {
            let label = if failures > 0 { "backing off" } else { "idle" };
            set_state(label, Some(due_in), failures);
            if !wait(due_in) {
                break;
            }
            continue; // re-evaluate: a reload may have changed the interval
        }
        if !extension_present() {
            if !waiting_logged {
                log!("scrap_sga scheduler: waiting for CREATE EXTENSION scrap_sga in database {db:?}");
                waiting_logged = true;
            }
            if !wait(interval().min(Duration::from_secs(10))) {
                break;
            }
            continue;
        }
        waiting_logged = false;
        if !acting_as_owner {
            match become_extension_owner() {
                Ok(owner) => {
                    log!("scrap_sga scheduler: working as {owner:?}, the extension's owner");
                    acting_as_owner = true;
                }
                Err(e) => {
                    warning!("scrap_sga scheduler: {}", e.message);
                    if !wait(interval().min(Duration::from_secs(10))) {
                        break;
                    }
                    continue;
                }
            }
        }
        if !settings::ENABLED.get() {
            set_state("paused", None, failures);
            if !wait(interval()) {
                break;
            }
            continue;
        }
        last_start = Some(Instant::now());
        set_state("running", None, failures);
        let inv = match txn::in_transaction(crate::job_worker::next_invocation) {
            Ok(i) => i,
            Err(e) => {
                warning!("scrap_sga scheduler: {}", e.message);
                failures = failures.saturating_add(1).min(16);
                continue;
            }
        };
        let outcomes = engine::run_invocation(&Invocation { id: inv, job: Job::Sync, model: None, scheduled: true, wait_for_lock: false });
        if interrupt::pending() {
            break;
        }
        told_to_wait = outcomes.iter().filter_map(|o| o.as_ref().err()?.odoo.as_ref()?.retry_after()).max().unwrap_or(Duration::ZERO);
        failures = if outcomes.iter().any(Result::is_err) { failures.saturating_add(1).min(16) } else { 0 };
    }
    // Exit code 1: the postmaster restarts us after RESTART_AFTER, unless the cluster is stopping.
    set_state("stopped", None, failures);
    // SAFETY: proc_exit runs the exit callbacks and ends the process; called from the worker's
    // main function, outside any transaction, as Postgres' own workers end.
    unsafe { pg_sys::proc_exit(1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_cycle_backs_off_and_heeds_odoo_up_to_an_hour() {
        let (minute, hour) = (Duration::from_secs(60), Duration::from_secs(3600));
        assert_eq!(next_delay(minute, 0, Duration::ZERO), minute);
        assert_eq!(next_delay(minute, 3, Duration::ZERO), 8 * minute);
        assert_eq!(next_delay(minute, 40, Duration::ZERO), hour);
        assert_eq!(next_delay(minute, 0, Duration::from_secs(300)), Duration::from_secs(300));
        assert_eq!(next_delay(minute, 0, Duration::from_secs(86_400)), hour);
        assert_eq!(next_delay(minute, 0, Duration::from_secs(u64::MAX)), hour);
        let day = Duration::from_secs(86_400);
        assert_eq!(next_delay(day, 2, Duration::from_secs(u64::MAX)), day, "an interval longer than an hour is kept");
    }
}
