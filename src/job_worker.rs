//! `scrap_sga.run_job()`: run the engine in a dynamic background worker (a job worker) and wait
//! for it. What `sync()`, `resync()`, `full_resync()`, `reconcile()` and `resync_failed()` call.
//!
//! A SQL function cannot commit, yet a sync must commit page by page, keep its run-log row when
//! it fails, and hold no transaction while it waits on Odoo. So the caller's backend only starts
//! a worker, waits, and reads the outcome from the run log (`invocation` ties the two together).
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::{Duration, Instant};

use crate::catalog;
use crate::engine::{self, Invocation, Job, JobArgs};
use crate::errors::{self, state, SyncError};

const JOB_FUNCTION: &str = "scrap_sga_job_main";

/// A caller waiting for its job hears how far it is this often (a NOTICE, which
/// client_min_messages may silence).
const NOTICE_EVERY: Duration = Duration::from_secs(10);

/// A NOTICE for each run of invocation `inv` under way, or, while it has none, for each run of
/// its model (all models for None) that another invocation has under way, which it waits for.
/// Read in a subtransaction: when the progress cannot be read (an ERROR included), nothing is
/// said and the wait goes on.
fn tell_progress(inv: i64, model: Option<&str>) {
    let lines = crate::txn::in_subtransaction(|| {
        // The caller's transaction keeps its first look at pg_stat_activity (which the progress
        // view reads) until told to take a new one.
        Spi::run("SELECT pg_catalog.pg_stat_clear_snapshot()")?;
        progress_lines(inv, model)
    });
    for line in lines.unwrap_or_default() {
        notice!("scrap_sga: {line}");
    }
}

fn progress_lines(inv: i64, model: Option<&str>) -> Result<Vec<String>, SyncError> {
    Spi::connect(|c| -> Result<Vec<String>, SyncError> {
        let t = c.select(
            "WITH mine AS (SELECT p.* FROM scrap_sga.progress p JOIN scrap_sga.sync_run r USING (run_id) WHERE r.invocation = $1)
             SELECT format('%s%s: %s%s%s%s; %s requests to Odoo%s',
                        CASE WHEN r.invocation = $1 THEN '' ELSE format('waiting for run %s (%s) of ', p.run_id, p.trigger) END,
                        p.model, p.phase,
                        CASE WHEN p.done IS NULL THEN ''
                             ELSE format(', %s%s records%s', to_char(p.done, 'FM999,999,999,990'),
                                         CASE WHEN p.expected IS NULL THEN '' ELSE ' of ' || to_char(p.expected, 'FM999,999,999,990') END,
                                         CASE WHEN p.percent IS NULL THEN '' ELSE format(' (%s %%)', p.percent) END) END,
                        CASE WHEN p.records_per_second > 0 THEN format(', %s records/s', round(p.records_per_second::numeric)) ELSE '' END,
                        CASE WHEN p.eta > clock_timestamp() THEN format(', about %s left', date_trunc('second', p.eta - clock_timestamp())) ELSE '' END,
                        p.requests,
                        CASE WHEN p.resumed_from IS NOT NULL THEN format(', resumed after id %s', p.resumed_from) ELSE '' END)
             FROM scrap_sga.progress p JOIN scrap_sga.sync_run r USING (run_id)
             WHERE r.invocation = $1 OR (NOT EXISTS (SELECT 1 FROM mine) AND ($2::text IS NULL OR p.model = $2))
             ORDER BY p.run_id",
            None,
            &[inv.into(), model.into()],
        )?;
        let mut out = Vec::new();
        for r in t {
            out.extend(r.get::<String>(1)?);
        }
        Ok(out)
    })
}

/// A new invocation id: the runs of one call share it.
pub fn next_invocation() -> Result<i64, SyncError> {
    Spi::get_one::<i64>("SELECT nextval('scrap_sga.invocation_seq')")?.ok_or_else(|| SyncError::new(state::INTERNAL, "nextval returned no value"))
}

/// The extension's owner in this database: its oid and name.
pub fn extension_owner() -> Result<(pg_sys::Oid, String), SyncError> {
    // One row whatever happens: no owner found is (NULL, NULL), not an empty result.
    match Spi::get_two::<pg_sys::Oid, String>(
        "SELECT o.extowner, (SELECT rolname::text FROM pg_catalog.pg_roles WHERE oid = o.extowner)
         FROM (SELECT (SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'scrap_sga') AS extowner) o",
    )? {
        (Some(oid), Some(name)) if oid != pg_sys::InvalidOid => Ok((oid, name)),
        _ => Err(SyncError::new(state::NOT_CONFIGURED, "cannot find the owner of extension scrap_sga in this database")),
    }
}

#[pg_extern(volatile, parallel_unsafe, security_definer)]
fn run_job(job: &str, model: Option<&str>, odoo_id: Option<i64>) -> i64 {
    errors::boundary(|| start_and_wait(job, model, odoo_id))
}

fn start_and_wait(job: &str, model: Option<&str>, odoo_id: Option<i64>) -> Result<i64, SyncError> {
    let record = odoo_id
        .map(|i| i32::try_from(i).map_err(|_| SyncError::new(state::INVALID_PARAMETER, format!("{i} is not an Odoo record id (ids are integers up to 2147483647)"))))
        .transpose()?;
    let parsed = Job::parse(job, record).ok_or_else(|| SyncError::new(state::INVALID_PARAMETER, format!("unknown job {job:?} (or resync without an id)")))?;
    if let (Job::Resync { id }, None) = (parsed, model) {
        return Err(SyncError::new(state::INVALID_PARAMETER, format!("resync of {id}: name the model")));
    }
    // SAFETY: RecoveryInProgress() reads shared memory under its own spinlock; XactIsoLevel is
    // this backend's own global, read on its thread.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Err(SyncError::new(
            state::READ_ONLY_TRANSACTION,
            "this server is a standby (in recovery): scrap_sga syncs on the primary, and the mirror tables reach standbys by replication",
        ));
    }
    // SAFETY: as above.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Err(SyncError::new(
            state::INVALID_TRANSACTION_STATE,
            "scrap_sga.sync() needs READ COMMITTED: at REPEATABLE READ or SERIALIZABLE this transaction could not see what the sync wrote",
        ));
    }
    let model_id = match model {
        Some(m) => catalog::models::models(Some(m))
            .map_err(|e| e.context(format!("scrap_sga: {} of {m} failed", job.replace('_', " "))))?
            .first()
            .map(|c| c.model_id)
            .unwrap_or_default(),
        None => 0,
    };
    let inv = next_invocation()?;
    // The job runs as scrap_sga.worker_role (by default the extension's owner): the mirror
    // tables are its, and callers need not be able to write them.
    let role = job_role()?;
    // SAFETY: MyDatabaseId and MyProcPid are this backend's own globals, set at its start.
    let (database, me) = unsafe { (pg_sys::MyDatabaseId, pg_sys::MyProcPid) };
    let args = JobArgs { database: u32::from(database), role: u32::from(role), job: parsed, model_id };
    let builder = BackgroundWorkerBuilder::new(&format!("scrap_sga sync #{inv}"))
        .set_type("scrap_sga sync")
        .set_library("scrap_sga")
        .set_function(JOB_FUNCTION)
        .set_argument(Some(pg_sys::Datum::from(inv)))
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .set_notify_pid(me);
    // The raw registration rather than pgrx's DynamicBackgroundWorker: its bgw_extra is set from
    // a &str (ours is binary, see JobArgs), and its handle is consumed by wait_for_shutdown(), so
    // it could not also terminate the worker when the wait is cancelled (below).
    let mut bgw: pg_sys::BackgroundWorker = (&builder).into();
    for (dst, src) in bgw.bgw_extra.iter_mut().zip(args.to_bytes()) {
        *dst = src as std::ffi::c_char;
    }
    let mut handle: *mut pg_sys::BackgroundWorkerHandle = std::ptr::null_mut();
    // SAFETY: `bgw` is a complete registration built above, and `handle` a valid out-pointer;
    // Postgres copies the registration and sets `handle` when it returns true.
    if !unsafe { pg_sys::RegisterDynamicBackgroundWorker(&mut bgw, &mut handle) } {
        return Err(SyncError::new(state::TOO_MANY_WORKERS, "could not start a scrap_sga background worker: all max_worker_processes slots are in use"));
    }
    // If this statement is cancelled while it waits, stop the worker too (it checks between
    // pages and chunks), then let the cancellation go on.
    PgTryBuilder::new(|| {
        let mut pid: pg_sys::pid_t = 0;
        // SAFETY: `handle` was set by a successful registration, with this backend as the
        // worker's notify_pid, which is what the wait requires.
        unsafe { pg_sys::WaitForBackgroundWorkerStartup(handle, &mut pid) };
        let mut told = Instant::now();
        // SAFETY: the same valid handle; `pid` is a valid out-pointer.
        while unsafe { pg_sys::GetBackgroundWorkerPid(handle, &mut pid) } != pg_sys::BgwHandleStatus::BGWH_STOPPED {
            // The worker's end sets this backend's latch (it is its notify_pid); a second passes
            // otherwise, for the progress notices.
            // SAFETY: MyLatch is this backend's own latch, waited on and reset on its thread, as
            // WaitForBackgroundWorkerShutdown itself does.
            unsafe {
                let events = pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH;
                pg_sys::WaitLatch(pg_sys::MyLatch, events as i32, 1000, pg_sys::PG_WAIT_EXTENSION);
                pg_sys::ResetLatch(pg_sys::MyLatch);
            }
            pgrx::check_for_interrupts!();
            if told.elapsed() >= NOTICE_EVERY {
                tell_progress(inv, model);
                told = Instant::now();
            }
        }
    })
    .catch_others(|e| {
        // SAFETY: the same valid handle; terminating a worker that already ended is a no-op.
        unsafe { pg_sys::TerminateBackgroundWorker(handle) };
        e.rethrow()
    })
    .execute();
    Ok(inv)
}

/// The role a job runs as: `scrap_sga.worker_role`, or the extension's owner. Never a silent
/// fallback to the bootstrap superuser: a role that cannot be found, or cannot log in (a
/// background worker connects as it), is an error here, before any worker starts.
fn job_role() -> Result<pg_sys::Oid, SyncError> {
    let (role, rolname) = match crate::settings::worker_role() {
        Some(name) => (
            Spi::get_one_with_args::<pg_sys::Oid>("SELECT (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)", &[name.as_str().into()])?
                .ok_or_else(|| SyncError::new(state::UNDEFINED_OBJECT, format!("scrap_sga.worker_role names the role {name:?}, which does not exist")))?,
            name,
        ),
        None => extension_owner()?,
    };
    let can_login = Spi::get_one_with_args::<bool>("SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE oid = $1", &[role.into()])?.unwrap_or(false);
    if !can_login {
        return Err(SyncError::new(
            state::INSUFFICIENT_PRIVILEGE,
            format!("the role {rolname:?} that scrap_sga's jobs run as cannot log in, and a background worker connects as it: ALTER ROLE {} LOGIN", scrap_sga_core::ident::quote(&rolname)),
        ));
    }
    Ok(role)
}

/// Entry point of the dynamic worker started by `run_job`.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn scrap_sga_job_main(arg: pg_sys::Datum) {
    let inv = arg.value() as i64;
    // SAFETY: MyBgworkerEntry points to this worker's registration for the life of the process;
    // bgw_extra is a fixed array within it, copied before anything else runs.
    let extra: Vec<u8> = unsafe { (*pg_sys::MyBgworkerEntry).bgw_extra.iter().map(|&c| c as u8).collect() };
    // run_job() wrote these arguments: anything else is a bug, never a reason to sync something
    // else, or as someone else. The caller reports that no run was recorded.
    let Some(args) = JobArgs::from_bytes(&extra) else {
        log!("scrap_sga job #{inv}: malformed worker arguments; nothing was run");
        return;
    };
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(args.database)), Some(pg_sys::Oid::from(args.role)));
    let model = match args.model_id {
        0 => Ok(None),
        id => crate::txn::in_transaction(|| catalog::models::model_by_id(id)).map(|c| Some(c.model)),
    };
    match model {
        Ok(model) => {
            engine::run_invocation(&Invocation { id: inv, job: args.job, model, scheduled: false, wait_for_lock: true });
        }
        Err(e) => log!("scrap_sga job #{inv}: {}; nothing was run", e.message),
    }
}
