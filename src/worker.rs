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
//! * After failed cycles it waits longer (interval × 2^failures, at most an hour).
//! * It works as `scrap_sga.worker_role`: it connects as that role; without one, as the
//!   extension's owner (it connects as the bootstrap superuser, which any role can be looked up
//!   as, then takes the owner's identity for the session before any sync). A change of the
//!   setting restarts it.
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::{Duration, Instant};

use crate::engine::{self, Invocation, Job};
use crate::errors::SyncError;
use crate::settings;
use crate::txn;

const RESTART_AFTER: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

pub fn register() {
    unsafe {
        if !pg_sys::process_shared_preload_libraries_in_progress || pg_sys::IsBinaryUpgrade {
            return;
        }
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
    let next = next_run_in.map(|d| d.as_secs_f64());
    let _ = txn::in_transaction(|| {
        Spi::run_with_args(
            "INSERT INTO scrap_sga.worker_state AS w (pid, state, next_run_at, consecutive_failures, interval_s, updated_at)
             VALUES (pg_backend_pid(), $1, clock_timestamp() + make_interval(secs => $2), $3, $4, clock_timestamp())
             ON CONFLICT (singleton) DO UPDATE SET pid = EXCLUDED.pid, state = EXCLUDED.state, next_run_at = EXCLUDED.next_run_at,
                 consecutive_failures = EXCLUDED.consecutive_failures, interval_s = EXCLUDED.interval_s, updated_at = EXCLUDED.updated_at",
            &[state.into(), next.into(), (failures as i32).into(), (settings::INTERVAL.get()).into()],
        )?;
        Ok(())
    });
}

fn extension_present() -> bool {
    txn::in_transaction(|| Ok(Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'scrap_sga')")?.unwrap_or(false)))
        .unwrap_or(false)
}

/// Without `scrap_sga.worker_role`, act as the extension's owner from now on (the session's
/// identity, for every transaction after this one). Returns who that is, for the log.
fn become_extension_owner() -> Result<String, SyncError> {
    txn::in_transaction(|| {
        let owner = Spi::get_one::<String>(
            "SELECT (SELECT r.rolname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles r ON r.oid = e.extowner WHERE e.extname = 'scrap_sga')",
        )?
        .ok_or_else(|| SyncError::new(crate::errors::state::NOT_CONFIGURED, "cannot find the owner of extension scrap_sga"))?;
        Spi::run(&format!("SET SESSION AUTHORIZATION {}", scrap_sga_core::ident::quote(&owner)))?;
        Ok(owner)
    })
}

/// Wait up to `d` on the latch; false when the worker must stop.
fn wait(d: Duration) -> bool {
    let deadline = Instant::now() + d;
    loop {
        if unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 } {
            return false;
        }
        if BackgroundWorker::sighup_received() {
            let role = settings::worker_role();
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
    loop {
        // When is the next run due? An interval after the last start; a run that took longer
        // than the interval is followed by one run at once, never by a pile of them.
        let delay = interval().saturating_mul(2u32.saturating_pow(failures)).min(MAX_BACKOFF.max(interval()));
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
        let inv = match txn::in_transaction(|| Ok(Spi::get_one::<i64>("SELECT nextval('scrap_sga.invocation_seq')")?.unwrap_or(0))) {
            Ok(i) => i,
            Err(SyncError { message, .. }) => {
                warning!("scrap_sga scheduler: {message}");
                failures = failures.saturating_add(1).min(16);
                continue;
            }
        };
        let outcomes = engine::run_invocation(&Invocation { id: inv, job: Job::Sync, model: None, scheduled: true, wait_for_lock: false });
        if unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 } {
            break;
        }
        failures = if outcomes.iter().any(|o| o.error.is_some()) { failures.saturating_add(1).min(16) } else { 0 };
    }
    // Exit code 1: the postmaster restarts us after RESTART_AFTER, unless the cluster is stopping.
    set_state("stopped", None, failures);
    unsafe { pg_sys::proc_exit(1) };
}
