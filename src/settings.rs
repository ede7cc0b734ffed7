//! Server settings (GUCs). Per-model settings live in `scrap_sga.model` instead, because the
//! sync runs in a background worker that does not see a session's `SET`.
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static CONNECT_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static READ_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static MAX_RESPONSE_MB: GucSetting<i32> = GucSetting::<i32>::new(256);
pub static AUDIT_RETENTION: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(Some(c"90 days"));

pub fn define() {
    GucRegistry::define_int_guc(
        c"scrap_sga.connect_timeout",
        c"Seconds to wait for a connection to Odoo.",
        c"Applies to the TCP connection and the TLS handshake.",
        &CONNECT_TIMEOUT,
        1,
        600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"scrap_sga.read_timeout",
        c"Seconds to wait for Odoo's answer, and then for each read of its body.",
        c"A page that takes longer fails the run for that model; nothing of it is written.",
        &READ_TIMEOUT,
        1,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"scrap_sga.max_response_mb",
        c"Largest answer accepted from Odoo, in megabytes.",
        c"Protects the backend's memory from a runaway answer; lower page_size if pages are refused.",
        &MAX_RESPONSE_MB,
        1,
        4096,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"scrap_sga.audit_retention",
        c"How long rows stay in scrap_sga.audit_log.",
        c"An interval ('90 days'). Older rows are deleted after each sync, a batch at a time (scrap_sga.prune_audit()).",
        &AUDIT_RETENTION,
        GucContext::Sighup,
        GucFlags::default(),
    );
    unsafe {
        pgrx::pg_sys::MarkGUCPrefixReserved(c"scrap_sga".as_ptr());
    }
}
