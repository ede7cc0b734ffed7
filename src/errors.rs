//! One error type for everything a sync can fail on, each with the SQLSTATE it is raised with.
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use scrap_sga_core::mapping::ConvertError;
use scrap_sga_core::odoo::OdooError;

#[derive(Debug, Clone)]
pub struct SyncError {
    /// Five-character SQLSTATE, e.g. `28P01`.
    pub sqlstate: &'static str,
    pub message: String,
}

pub mod state {
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const UNDEFINED_FILE: &str = "58P01";
    pub const CONFIG_FILE_ERROR: &str = "F0000";
    pub const CANNOT_CONNECT: &str = "08001";
    pub const CONNECTION_FAILURE: &str = "08006";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const ODOO_EXCEPTION: &str = "38000";
    pub const NOT_CONFIGURED: &str = "55000";
    pub const INVALID_PARAMETER: &str = "22023";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const QUERY_CANCELED: &str = "57014";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const INTERNAL: &str = "XX000";
}

impl SyncError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> SyncError {
        SyncError { sqlstate, message: message.into() }
    }

    /// Prefix the message with where it happened (model, operation, page).
    pub fn context(mut self, what: impl std::fmt::Display) -> SyncError {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub fn from_odoo(e: &OdooError) -> SyncError {
        let sqlstate = match e {
            _ if e.is_auth_failure() => state::INVALID_PASSWORD,
            OdooError::Connect { .. } => state::CANNOT_CONNECT,
            OdooError::Timeout { .. } => state::CONNECTION_FAILURE,
            OdooError::Interrupted => state::QUERY_CANCELED,
            OdooError::Http { .. }
            | OdooError::Malformed { .. }
            | OdooError::TooLarge { .. }
            | OdooError::RequestRejected { .. }
            | OdooError::NoProtocol { .. } => state::PROTOCOL_VIOLATION,
            OdooError::AccessDenied { .. } => state::INSUFFICIENT_PRIVILEGE,
            OdooError::UnknownModel { .. } => state::UNDEFINED_OBJECT,
            OdooError::DatabaseNotFound { .. } => state::INVALID_CATALOG_NAME,
            OdooError::Server { .. } => state::ODOO_EXCEPTION,
            OdooError::LoginFailed { .. } | OdooError::KeyRejected { .. } => state::INVALID_PASSWORD,
            OdooError::Settings(_) => state::INVALID_PARAMETER,
            OdooError::Internal(_) => state::INTERNAL,
        };
        SyncError::new(sqlstate, e.to_string())
    }

    pub fn from_convert(e: &ConvertError) -> SyncError {
        SyncError::new(state::DATA_EXCEPTION, e.to_string())
    }

    /// An error caught from Postgres (or a Rust panic) inside one of our transactions. A panic's
    /// text is not shown to users: it says nothing they can act on.
    pub fn from_caught(e: CaughtError) -> SyncError {
        match e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                let code = sqlstate_of(r.sql_error_code() as i32);
                let mut msg = r.message().to_owned();
                if let Some(d) = r.detail() {
                    msg.push_str(&format!(" ({d})"));
                }
                SyncError { sqlstate: leak_state(code), message: msg }
            }
            CaughtError::RustPanic { .. } => SyncError::new(state::INTERNAL, "internal error in scrap_sga (see the server log)"),
        }
    }

    /// Raise as a Postgres ERROR in the current backend.
    pub fn raise(&self) -> ! {
        ereport!(PgLogLevel::ERROR, code_of(self.sqlstate), self.message.clone());
        unreachable!()
    }
}

impl From<OdooError> for SyncError {
    fn from(e: OdooError) -> SyncError {
        SyncError::from_odoo(&e)
    }
}

impl From<pgrx::spi::SpiError> for SyncError {
    fn from(e: pgrx::spi::SpiError) -> SyncError {
        SyncError::new(state::INTERNAL, format!("SPI: {e}"))
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// SQLSTATE text of Postgres' packed error code (MAKE_SQLSTATE packs five 6-bit characters).
pub fn sqlstate_of(code: i32) -> String {
    (0..5).map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char).collect()
}

pub fn code_of(sqlstate: &str) -> PgSqlErrorCode {
    let b = sqlstate.as_bytes();
    let packed = (0..5).fold(0i32, |acc, i| acc | ((b.get(i).copied().unwrap_or(b'0').wrapping_sub(b'0') as i32 & 0x3F) << (6 * i)));
    PgSqlErrorCode::from(packed)
}

/// SQLSTATEs are few and short; keeping caught ones as `&'static str` keeps `SyncError` simple.
fn leak_state(code: String) -> &'static str {
    for s in [
        state::INVALID_PASSWORD, state::CANNOT_CONNECT, state::CONNECTION_FAILURE, state::PROTOCOL_VIOLATION,
        state::ODOO_EXCEPTION, state::NOT_CONFIGURED, state::INVALID_PARAMETER, state::DATA_EXCEPTION,
        state::QUERY_CANCELED, state::ADMIN_SHUTDOWN, state::INTERNAL, state::INSUFFICIENT_PRIVILEGE, state::UNDEFINED_OBJECT,
        state::INVALID_CATALOG_NAME, state::UNDEFINED_FILE, state::CONFIG_FILE_ERROR,
    ] {
        if s == code {
            return s;
        }
    }
    Box::leak(code.into_boxed_str())
}
