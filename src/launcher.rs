//! `scrap_sga.run_job()`: run the engine in a dynamic background worker and wait for it.
//!
//! A SQL function cannot commit, yet a sync must commit page by page, keep its run-log row when
//! it fails, and hold no transaction while it waits on Odoo. So the caller's backend only starts
//! a worker, waits, and reads the outcome from the run log (`invocation` ties the two together).
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;

use crate::engine::{self, Invocation, Job};
use crate::errors::{state, SyncError};

const JOB_FUNCTION: &str = "scrap_sga_job_main";

#[pg_extern(volatile, parallel_unsafe, security_definer)]
fn run_job(job: &str, model: Option<&str>, odoo_id: Option<i64>) -> i64 {
    let Some(parsed) = Job::parse(job, odoo_id) else {
        SyncError::new(state::INVALID_PARAMETER, format!("unknown job {job:?} (or resync without an id)")).raise()
    };
    if let (Job::Resync { id }, None) = (&parsed, model) {
        SyncError::new(state::INVALID_PARAMETER, format!("resync of {id}: name the model")).raise();
    }
    if unsafe { pg_sys::RecoveryInProgress() } {
        SyncError::new(state::READ_ONLY_TRANSACTION, "this server is a standby (in recovery): scrap_sga syncs on the primary, and the mirror tables reach standbys by replication").raise();
    }
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        SyncError::new(state::ACTIVE_TRANSACTION, "scrap_sga.sync() needs READ COMMITTED: at REPEATABLE READ or SERIALIZABLE this transaction could not see what the sync wrote").raise();
    }
    let inv = Spi::get_one::<i64>("SELECT nextval('scrap_sga.invocation_seq')").ok().flatten().unwrap_or(0);
    // The job runs as scrap_sga.worker_role (by default the extension's owner): the mirror
    // tables are its, and callers need not be able to write them.
    let role = job_role().unwrap_or_else(|e| e.raise());
    let extra = format!(
        "{}|{}|{}|{}|{}",
        u32::from(unsafe { pg_sys::MyDatabaseId }),
        u32::from(role),
        parsed.name(),
        odoo_id.map(|i| i.to_string()).unwrap_or_default(),
        model.unwrap_or("")
    );
    if extra.len() > 127 {
        SyncError::new(state::INVALID_PARAMETER, "model name too long").raise();
    }
    let builder = BackgroundWorkerBuilder::new(&format!("scrap_sga sync #{inv}"))
        .set_type("scrap_sga sync")
        .set_library("scrap_sga")
        .set_function(JOB_FUNCTION)
        .set_argument(Some(pg_sys::Datum::from(inv)))
        .set_extra(&extra)
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .set_notify_pid(unsafe { pg_sys::MyProcPid });
    let mut bgw: pg_sys::BackgroundWorker = (&builder).into();
    let mut handle: *mut pg_sys::BackgroundWorkerHandle = std::ptr::null_mut();
    if !unsafe { pg_sys::RegisterDynamicBackgroundWorker(&mut bgw, &mut handle) } {
        SyncError::new(state::TOO_MANY_WORKERS, "could not start a scrap_sga background worker: all max_worker_processes slots are in use").raise();
    }
    // If this statement is cancelled, stop the worker too: it checks between pages and chunks.
    PgTryBuilder::new(|| unsafe {
        let mut pid: pg_sys::pid_t = 0;
        pg_sys::WaitForBackgroundWorkerStartup(handle, &mut pid);
        pg_sys::WaitForBackgroundWorkerShutdown(handle);
    })
    .catch_others(|e| {
        unsafe { pg_sys::TerminateBackgroundWorker(handle) };
        e.rethrow()
    })
    .execute();
    inv
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
        None => match Spi::get_two::<pg_sys::Oid, String>(
            // One row whatever happens: no owner found is (NULL, NULL), not an empty result.
            "SELECT o.extowner, (SELECT rolname::text FROM pg_catalog.pg_roles WHERE oid = o.extowner)
             FROM (SELECT (SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'scrap_sga') AS extowner) o",
        )? {
            (Some(oid), Some(name)) if oid != pg_sys::InvalidOid => (oid, name),
            _ => return Err(SyncError::new(state::NOT_CONFIGURED, "cannot find the owner of extension scrap_sga in this database")),
        },
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
    let extra = BackgroundWorker::get_extra().to_owned();
    let mut parts = extra.splitn(5, '|');
    let db: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let role: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let job_name = parts.next().unwrap_or_default().to_owned();
    let odoo_id: Option<i64> = parts.next().and_then(|s| s.parse().ok());
    let model = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    // run_job() wrote these arguments: anything else is a bug, never a reason to sync something
    // else, or as someone else (role 0 would be the bootstrap superuser). The caller reports
    // that no run was recorded.
    let Some(job) = Job::parse(&job_name, odoo_id).filter(|_| db != 0 && role != 0) else {
        log!("scrap_sga job #{inv}: malformed worker arguments {extra:?}; nothing was run");
        return;
    };
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(db)), Some(pg_sys::Oid::from(role)));
    engine::run_invocation(&Invocation { id: inv, job, model, scheduled: false, wait_for_lock: true });
}
