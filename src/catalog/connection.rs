//! The Odoo connection, `scrap_sga.connection`: the server settings with it as the client's
//! [`Settings`] (the API key read from its file at every run), and what the last client found
//! out about the server (protocol, version, JSON-RPC user id), so that a run need not ask
//! again. The only place that reads or writes that table besides `set_connection()`.
use pgrx::prelude::*;
use scrap_sga_core::odoo::secret_file::{self, SecretFileError};
use scrap_sga_core::odoo::fingerprint::Support;
use scrap_sga_core::odoo::{Detected, Pace, Protocol, ProtocolChoice, Settings};
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
    max_requests_per_second: Option<f64>,
    detected: Option<Detected>,
    /// The detection is older than the models' schema_refresh: ask again.
    detection_due: bool,
}

/// The connection as the client takes it, and what was found out about the server last time
/// (None when it must be asked again).
pub struct Connection {
    pub settings: Settings,
    pub detected: Option<Detected>,
}

fn read_row() -> Result<Option<Row>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT url, database, login, secret, secret_file, protocol, max_requests_per_second::float8,
                    detected_protocol, detected_version, detected_uid,
                    detected_at IS NULL OR detected_at + (SELECT coalesce(min(schema_refresh), '10 minutes') FROM scrap_sga.model) <= now(),
                    detected_fingerprint
             FROM scrap_sga.connection",
            None,
            &[],
        )?;
        let Some(r) = t.into_iter().next() else { return Ok(None) };
        let protocol = match r.get::<String>(8)?.as_deref() {
            Some("json2") => Some(Protocol::Json2),
            Some("jsonrpc") => Some(Protocol::JsonRpc),
            _ => None,
        };
        Ok(Some(Row {
            url: r.get::<String>(1)?.unwrap_or_default(),
            database: r.get::<String>(2)?.unwrap_or_default(),
            login: r.get::<String>(3)?,
            secret: r.get::<String>(4)?,
            secret_file: r.get::<String>(5)?,
            protocol: r.get::<String>(6)?.unwrap_or_default(),
            max_requests_per_second: r.get::<f64>(7)?,
            detected: protocol.map(|p| Detected {
                protocol: p,
                version: r.get::<String>(9).ok().flatten(),
                uid: r.get::<i32>(10).ok().flatten().map(i64::from),
                fingerprints: Support::parse(r.get::<String>(12).ok().flatten().as_deref()),
            }),
            detection_due: r.get::<bool>(11)?.unwrap_or(true),
        }))
    })
}

/// The connection, with `pace` as its request budget when it has one.
pub fn load(pace: impl FnOnce(f64) -> Pace) -> Result<Connection, SyncError> {
    let row = read_row()?.ok_or_else(|| {
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
    let settings = Settings {
        url: row.url,
        database: row.database,
        login: row.login.unwrap_or_default(),
        secret,
        protocol,
        connect_timeout: Duration::from_secs(settings::CONNECT_TIMEOUT.get() as u64),
        read_timeout: Duration::from_secs(settings::READ_TIMEOUT.get() as u64),
        max_response_bytes: settings::MAX_RESPONSE_MB.get() as u64 * 1024 * 1024,
        ca_bundle_pem: settings::ca_bundle()?,
        pace: row.max_requests_per_second.filter(|r| *r > 0.0).map(pace),
    };
    Ok(Connection {
        settings,
        detected: row.detected.filter(|_| !row.detection_due),
    })
}

/// Keep what a client found out about the server, for the next runs (cleared by set_connection).
pub fn remember(d: Option<&Detected>) -> Result<(), SyncError> {
    Spi::run_with_args(
        "UPDATE scrap_sga.connection SET detected_protocol = $1, detected_version = $2, detected_uid = $3,
                detected_at = CASE WHEN $1::text IS NULL THEN NULL ELSE now() END, detected_fingerprint = $4",
        &[
            d.map(|d| d.protocol.as_str()).into(),
            d.and_then(|d| d.version.as_deref()).into(),
            d.and_then(|d| d.uid).and_then(|u| i32::try_from(u).ok()).into(),
            d.and_then(|d| d.fingerprints.as_str()).into(),
        ],
    )?;
    Ok(())
}

/// Keep how the server answers fingerprints, found out during a run: unlike the rest, it does
/// not put off the next check of the server.
pub fn remember_fingerprints(support: Support) -> Result<(), SyncError> {
    Spi::run_with_args(
        "UPDATE scrap_sga.connection SET detected_fingerprint = $1 WHERE detected_protocol IS NOT NULL",
        &[support.as_str().into()],
    )?;
    Ok(())
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
    crate::errors::boundary(|| read_secret_file(path).map(|_| true))
}
