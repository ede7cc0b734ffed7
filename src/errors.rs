//! One error type for everything a sync can fail on, each with the SQLSTATE it is raised with.
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use scrap_sga_core::mapping::ConvertError;
use scrap_sga_core::odoo::OdooError;

use crate::interrupt::Stopped;

/// A five-character SQLSTATE (`28P01`), by value: errors caught from Postgres carry any code,
/// and a long-lived scheduler must not allocate one for good each time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SqlState([u8; 5]);

impl SqlState {
    /// Panics at compile time (in a const) on anything but five ASCII characters.
    pub const fn new(code: &str) -> SqlState {
        let b = code.as_bytes();
        assert!(b.len() == 5, "a SQLSTATE has five characters");
        SqlState([b[0], b[1], b[2], b[3], b[4]])
    }

    /// From Postgres' packed error code (MAKE_SQLSTATE packs five 6-bit characters).
    pub fn from_code(code: i32) -> SqlState {
        let mut b = [0u8; 5];
        for (i, c) in b.iter_mut().enumerate() {
            *c = ((code >> (6 * i)) & 0x3F) as u8 + b'0';
        }
        SqlState(b)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XX000")
    }

    /// The SQLSTATE's class: its first two characters.
    pub fn class(&self) -> &str {
        &self.as_str()[..2]
    }
}

impl std::fmt::Debug for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct SyncError {
    pub sqlstate: SqlState,
    pub message: String,
    /// The Odoo error it came from, for what the engine decides by its kind (a field the user
    /// may not read, a `Retry-After`).
    pub odoo: Option<OdooError>,
}

pub mod state {
    use super::SqlState;
    pub const INVALID_PASSWORD: SqlState = SqlState::new("28P01");
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState::new("42501");
    pub const UNDEFINED_OBJECT: SqlState = SqlState::new("42704");
    pub const INVALID_CATALOG_NAME: SqlState = SqlState::new("3D000");
    pub const UNDEFINED_FILE: SqlState = SqlState::new("58P01");
    pub const CONFIG_FILE_ERROR: SqlState = SqlState::new("F0000");
    pub const CANNOT_CONNECT: SqlState = SqlState::new("08001");
    pub const CONNECTION_FAILURE: SqlState = SqlState::new("08006");
    pub const PROTOCOL_VIOLATION: SqlState = SqlState::new("08P01");
    pub const ODOO_EXCEPTION: SqlState = SqlState::new("38000");
    pub const NOT_CONFIGURED: SqlState = SqlState::new("55000");
    pub const INVALID_PARAMETER: SqlState = SqlState::new("22023");
    pub const DATA_EXCEPTION: SqlState = SqlState::new("22000");
    pub const QUERY_CANCELED: SqlState = SqlState::new("57014");
    pub const ADMIN_SHUTDOWN: SqlState = SqlState::new("57P01");
    pub const INTERNAL: SqlState = SqlState::new("XX000");
    /// A mirror row changed by another session while a page was written to it.
    pub const SERIALIZATION_FAILURE: SqlState = SqlState::new("40001");
    pub const READ_ONLY_TRANSACTION: SqlState = SqlState::new("25006");
    pub const TOO_MANY_WORKERS: SqlState = SqlState::new("53400");
    /// Odoo, or a proxy in front of it, kept answering 429 or 503 (too many requests).
    pub const RATE_LIMITED: SqlState = SqlState::new("53300");
    // What SPI itself reports (see `From<SpiError>`).
    pub const DATATYPE_MISMATCH: SqlState = SqlState::new("42804");
    pub const UNDEFINED_COLUMN: SqlState = SqlState::new("42703");
    pub const UNDEFINED_TABLE: SqlState = SqlState::new("42P01");
    pub const INVALID_CURSOR_NAME: SqlState = SqlState::new("34000");
    pub const INVALID_TRANSACTION_STATE: SqlState = SqlState::new("25000");

}

impl SyncError {
    pub fn new(sqlstate: SqlState, message: impl Into<String>) -> SyncError {
        SyncError { sqlstate, message: message.into(), odoo: None }
    }

    /// Prefix the message with where it happened (model, operation, page).
    pub fn context(mut self, what: impl std::fmt::Display) -> SyncError {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// An Odoo error as the engine reports it. An interrupted call on a backend that was told
    /// to stop is that stop (57P01), not a failure of Odoo's.
    pub fn from_odoo(e: &OdooError) -> SyncError {
        if matches!(e, OdooError::Interrupted) && crate::interrupt::pending() {
            return Stopped.into();
        }
        let sqlstate = match e {
            _ if e.is_auth_failure() => state::INVALID_PASSWORD,
            OdooError::Connect { .. } => state::CANNOT_CONNECT,
            OdooError::Timeout { .. } | OdooError::Cut { .. } => state::CONNECTION_FAILURE,
            OdooError::RateLimited { .. } => state::RATE_LIMITED,
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
        SyncError { sqlstate, message: e.to_string(), odoo: Some(e.clone()) }
    }

    pub fn from_convert(e: &ConvertError) -> SyncError {
        SyncError::new(state::DATA_EXCEPTION, e.to_string())
    }

    /// An error caught from Postgres (or a Rust panic) inside one of our transactions. A panic's
    /// text is not shown to users: it says nothing they can act on.
    pub fn from_caught(e: CaughtError) -> SyncError {
        match e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                let mut msg = r.message().to_owned();
                if let Some(d) = r.detail() {
                    msg.push_str(&format!(" ({d})"));
                }
                SyncError::new(SqlState::from_code(r.sql_error_code() as i32), msg)
            }
            CaughtError::RustPanic { .. } => SyncError::new(state::INTERNAL, "internal error in scrap_sga (see the server log)"),
        }
    }

}

/// The one way a `SyncError` becomes a Postgres ERROR, for the SQL functions written in Rust
/// (their error boundary): raised with its SQLSTATE, unless the statement was cancelled or the
/// backend told to stop, which then raise Postgres' own error (57014, 57P01) first.
pub fn raise(e: SyncError) -> ! {
    pgrx::check_for_interrupts!();
    ereport!(PgLogLevel::ERROR, code_of(e.sqlstate), e.message);
    // ereport! at ERROR level does not return; should it ever, this is still a failure.
    #[allow(clippy::unreachable)]
    {
        unreachable!("ereport(ERROR) returned")
    }
}

/// A SQL function's body behind the error boundary: its value, or an ERROR ([`raise`]).
pub fn boundary<T>(f: impl FnOnce() -> Result<T, SyncError>) -> T {
    f().unwrap_or_else(|e| raise(e))
}

impl From<OdooError> for SyncError {
    fn from(e: OdooError) -> SyncError {
        SyncError::from_odoo(&e)
    }
}

/// An error of SPI itself (what pgrx checks before or after Postgres runs a statement; an
/// error Postgres raises while running it is caught as such, with its own SQLSTATE: see
/// `from_caught`), with the SQLSTATE of its kind.
impl From<pgrx::spi::SpiError> for SyncError {
    fn from(e: pgrx::spi::SpiError) -> SyncError {
        use pgrx::datum::TryFromDatumError;
        use pgrx::spi::{SpiError, SpiErrorCodes};
        let sqlstate = match &e {
            SpiError::DatumError(TryFromDatumError::IncompatibleTypes { .. }) => state::DATATYPE_MISMATCH,
            SpiError::DatumError(_) => state::UNDEFINED_COLUMN,
            // A statement given the wrong number of arguments: as Postgres says of a client's.
            SpiError::PreparedStatementArgumentMismatch { .. } => state::PROTOCOL_VIOLATION,
            SpiError::CursorNotFound(_) => state::INVALID_CURSOR_NAME,
            SpiError::SpiError(SpiErrorCodes::RelNotFound) => state::UNDEFINED_TABLE,
            SpiError::SpiError(SpiErrorCodes::Transaction) => state::INVALID_TRANSACTION_STATE,
            SpiError::SpiError(_) | SpiError::InvalidPosition | SpiError::NoTupleTable => state::INTERNAL,
        };
        SyncError::new(sqlstate, format!("SPI: {e}"))
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub fn code_of(sqlstate: SqlState) -> PgSqlErrorCode {
    let packed = sqlstate.0.iter().enumerate().fold(0i32, |acc, (i, &c)| acc | ((c.wrapping_sub(b'0') as i32 & 0x3F) << (6 * i)));
    PgSqlErrorCode::from(packed)
}

/// The error of a run that was stopped.
impl From<Stopped> for SyncError {
    fn from(_: Stopped) -> SyncError {
        SyncError::new(state::ADMIN_SHUTDOWN, "stopped: the server is shutting down or the run was cancelled")
    }
}
