//! The Odoo connection: `scrap_sga.connection` plus the server settings, as the client's
//! [`Settings`]. The API key may come from a file, read here at every run.
use pgrx::prelude::*;
use scrap_sga_core::odoo::secret_file::{self, SecretFileError};
use scrap_sga_core::odoo::{ProtocolChoice, Settings};
use std::time::Duration;

use crate::errors::{state, SyncError};
use crate::settings;

struct Row {
    url: String,
    database: String,
    login: Option<String>,
    secret: Option<String>,
    secret_file: Option<String>,
    protocol: String,
}

pub fn load() -> Result<Settings, SyncError> {
    let row = Spi::connect(|c| -> Result<Option<Row>, SyncError> {
        let t = c.select("SELECT url, database, login, secret, secret_file, protocol FROM scrap_sga.connection", None, &[])?;
        match t.into_iter().next() {
            Some(r) => Ok(Some(Row {
                url: r.get::<String>(1)?.unwrap_or_default(),
                database: r.get::<String>(2)?.unwrap_or_default(),
                login: r.get::<String>(3)?,
                secret: r.get::<String>(4)?,
                secret_file: r.get::<String>(5)?,
                protocol: r.get::<String>(6)?.unwrap_or_default(),
            })),
            None => Ok(None),
        }
    })?
    .ok_or_else(|| {
        SyncError::new(
            state::NOT_CONFIGURED,
            "no Odoo connection is configured: call scrap_sga.set_connection(url, database, login, secret) or set_connection(url, database, secret_file => '/path/to/key')",
        )
    })?;
    let secret = match (&row.secret_file, row.secret) {
        (Some(path), _) => read_secret_file(path)?,
        (None, Some(s)) => s,
        (None, None) => return Err(SyncError::new(state::NOT_CONFIGURED, "the Odoo connection has neither secret nor secret_file")),
    };
    let protocol = ProtocolChoice::parse(&row.protocol)
        .ok_or_else(|| SyncError::new(state::INVALID_PARAMETER, format!("unknown protocol {:?} in scrap_sga.connection", row.protocol)))?;
    Ok(Settings {
        url: row.url,
        database: row.database,
        login: row.login.unwrap_or_default(),
        secret,
        protocol,
        connect_timeout: Duration::from_secs(settings::CONNECT_TIMEOUT.get() as u64),
        read_timeout: Duration::from_secs(settings::READ_TIMEOUT.get() as u64),
        max_response_bytes: settings::MAX_RESPONSE_MB.get() as u64 * 1024 * 1024,
        ca_bundle_pem: settings::ca_bundle()?,
    })
}

fn read_secret_file(path: &str) -> Result<String, SyncError> {
    secret_file::read(path).map_err(|e| {
        let sqlstate = match e {
            SecretFileError::NotAbsolute(_) => state::INVALID_PARAMETER,
            SecretFileError::Unreadable { .. } => state::UNDEFINED_FILE,
            SecretFileError::TooOpen { .. } | SecretFileError::WrongOwner { .. } | SecretFileError::Empty { .. } => state::CONFIG_FILE_ERROR,
        };
        SyncError::new(sqlstate, format!("scrap_sga: {e}"))
    })
}

/// For `set_connection(secret_file => ...)`: refuse at once a file a run could not use. Runs
/// as the server's OS user, as the worker does, so it sees what the worker will see.
#[pg_extern(name = "_check_secret_file", volatile, parallel_unsafe)]
fn check_secret_file(path: &str) -> bool {
    match read_secret_file(path) {
        Ok(_) => true,
        Err(e) => e.raise(),
    }
}
