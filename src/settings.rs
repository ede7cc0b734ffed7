//! Server settings (GUCs). Per-model settings live in `scrap_sga.model` instead, because the
//! sync runs in a background worker that does not see a session's `SET`.
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static DATABASE: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(Some(c"postgres"));
pub static CONNECT_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static READ_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static MAX_RESPONSE_MB: GucSetting<i32> = GucSetting::<i32>::new(256);
pub static MAX_PAGE_MB: GucSetting<i32> = GucSetting::<i32>::new(32);
pub static CA_BUNDLE: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub static AUDIT_RETENTION: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(Some(c"90 days"));
pub static WORKER_ROLE: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub static SYNC_RUN_RETENTION: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(Some(c"90 days"));

pub fn define() {
    GucRegistry::define_int_guc(
        c"scrap_sga.interval",
        c"Seconds between two syncs of the background worker.",
        c"A run that takes longer is followed by one run at once, never by several. Applies on reload.",
        &INTERVAL,
        1,
        86400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_bool_guc(
        c"scrap_sga.enabled",
        c"Whether the background worker syncs (off: paused).",
        c"Manual scrap_sga.sync() calls work either way. Applies on reload.",
        &ENABLED,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // A postmaster-level setting can only be defined while shared_preload_libraries loads (later
    // it is FATAL), and only the worker, which exists only then, reads it.
    // SAFETY: a global the postmaster sets around loading preloaded libraries, read in _PG_init
    // on the process's only thread.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_string_guc(
            c"scrap_sga.database",
            c"The database the background worker syncs (where CREATE EXTENSION scrap_sga was run).",
            c"Needs a restart. The worker waits, without failing, until the extension exists there.",
            &DATABASE,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"scrap_sga.connect_timeout",
        c"Seconds to wait for a connection to Odoo.",
        c"Applies to the TCP connection and the TLS handshake.",
        &CONNECT_TIMEOUT,
        1,
        600,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"scrap_sga.read_timeout",
        c"Seconds to wait for Odoo's answer, and then for each read of its body.",
        c"A page that takes longer is asked again in halves, as long as Odoo answers a small request; otherwise the run fails for that model.",
        &READ_TIMEOUT,
        1,
        3600,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"scrap_sga.max_response_mb",
        c"Largest answer accepted from Odoo, in megabytes.",
        c"Protects the backend's memory from a runaway answer. A page refused for it is asked again in halves; a record over it alone waits in the retry queue.",
        &MAX_RESPONSE_MB,
        1,
        4096,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"scrap_sga.max_page_mb",
        c"Size, in megabytes, that pages of records read from Odoo aim at.",
        c"Pages hold fewer records than page_size when records are heavy (large binaries), from the bytes per record of the pages before. Capped by max_response_mb.",
        &MAX_PAGE_MB,
        1,
        4096,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"scrap_sga.ca_bundle",
        c"A PEM file of extra CA certificates to trust for Odoo's HTTPS.",
        c"Added to the bundled web PKI roots, for an Odoo behind a company CA. Certificates are always verified.",
        &CA_BUNDLE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"scrap_sga.audit_retention",
        c"How long rows stay in scrap_sga.audit_log.",
        c"An interval ('90 days'). Older rows are deleted after each sync, a batch at a time (scrap_sga.prune_audit()).",
        &AUDIT_RETENTION,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"scrap_sga.worker_role",
        c"The role every sync runs as: the scheduler's, and each sync() call's worker.",
        c"Empty: the extension's owner. It needs LOGIN and the privileges listed in the README. A change restarts the scheduler.",
        &WORKER_ROLE,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"scrap_sga.sync_run_retention",
        c"How long rows stay in scrap_sga.sync_run, the run log.",
        c"An interval ('90 days'). Older runs are deleted after each sync, a batch at a time (scrap_sga.prune_runs()); each model's latest run is always kept.",
        &SYNC_RUN_RETENTION,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: a static C string, in _PG_init, as every extension reserves its prefix.
    unsafe {
        pgrx::pg_sys::MarkGUCPrefixReserved(c"scrap_sga".as_ptr());
    }
}

/// The extra CA certificates, read from `scrap_sga.ca_bundle` when set.
pub fn ca_bundle() -> Result<Option<Vec<u8>>, crate::errors::SyncError> {
    let Some(path) = CA_BUNDLE.get() else { return Ok(None) };
    let path = path.to_string_lossy().into_owned();
    if path.is_empty() {
        return Ok(None);
    }
    std::fs::read(&path).map(Some).map_err(|e| {
        crate::errors::SyncError::new(crate::errors::state::INVALID_PARAMETER, format!("scrap_sga.ca_bundle: cannot read {path}: {e}"))
    })
}

pub fn database() -> String {
    DATABASE.get().map(|c| c.to_string_lossy().into_owned()).filter(|s| !s.is_empty()).unwrap_or_else(|| "postgres".into())
}

/// The size pages of records aim at, in bytes: `max_page_mb`, never over `max_response_mb`.
pub fn max_page_bytes() -> u64 {
    MAX_PAGE_MB.get().min(MAX_RESPONSE_MB.get()).max(1) as u64 * 1024 * 1024
}

/// `scrap_sga.worker_role`, when set.
pub fn worker_role() -> Option<String> {
    WORKER_ROLE.get().map(|c| c.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}
