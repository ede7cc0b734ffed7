//! What a client is given: the server and the secret, timeouts, and the two hooks the
//! extension plugs in (being told to stop, the request budget). Read by the client and by the
//! transport alike.
use std::sync::Arc;
use std::time::Duration;

use super::version::ProtocolChoice;

/// Asked between chunks of an answer: `true` stops the call with [`OdooError::Interrupted`].
/// The extension plugs Postgres' interrupt flags in here; the client itself knows nothing of them.
pub type Interrupt = Arc<dyn Fn() -> bool + Send + Sync>;

/// Asked before every request: how long to wait before sending it, the slot being taken. The
/// extension plugs a budget shared by every process syncing the same database in here
/// (`max_requests_per_second`); forked clients share it.
pub type Pace = Arc<dyn Fn() -> Duration + Send + Sync>;

#[derive(Clone)]
pub struct Settings {
    /// Base URL, e.g. `https://erp.example.com`.
    pub url: String,
    pub database: String,
    /// Needed by JSON-RPC only: JSON-2 knows the user from the API key.
    pub login: String,
    /// Password or API key. Never printed: `Settings` has a redacting `Debug`.
    pub secret: String,
    pub protocol: ProtocolChoice,
    pub connect_timeout: Duration,
    /// Longest wait for the answer's headers, then for each read of its body.
    pub read_timeout: Duration,
    pub max_response_bytes: u64,
    /// Extra trusted CA certificates (PEM), added to the bundled web PKI roots.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// The request budget, if any.
    pub pace: Option<Pace>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &display_url(&self.url))
            .field("database", &self.database)
            .field("login", &self.login)
            .field("secret", &"********")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// The URL as it may appear in messages: without any `user:password@` part.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
            let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Whether the URL's host is a loopback address (plain HTTP there is not worth a warning).
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = if host.starts_with('[') { host.split(']').next().unwrap_or("").trim_start_matches('[') } else { host.split(':').next().unwrap_or("") };
    host == "localhost" || host.starts_with("127.") || host == "::1"
}
