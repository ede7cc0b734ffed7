use thiserror::Error;

/// Everything that can go wrong talking to Odoo. Messages never contain the secret: text that
/// comes from the server is scrubbed before it is stored here (see `Client::scrub`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OdooError {
    #[error("cannot connect to Odoo at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("Odoo at {url} did not answer in time ({phase})")]
    Timeout { url: String, phase: String },
    #[error("interrupted while waiting for Odoo")]
    Interrupted,
    #[error("Odoo at {url} answered HTTP {status}: {excerpt}")]
    Http { url: String, status: u16, excerpt: String },
    #[error("Odoo at {url} sent an answer that is not valid JSON-RPC: {detail}")]
    Malformed { url: String, detail: String },
    #[error("Odoo's answer is larger than the {limit}-byte limit (scrap_sga.max_response_bytes)")]
    TooLarge { limit: u64 },
    #[error("Odoo refused the login of user {login:?} on database {database:?} (wrong login or secret)")]
    LoginFailed { database: String, login: String },
    /// Odoo answered with its error envelope; `name` is the Python exception class.
    #[error("Odoo raised {name}: {message}")]
    Server { name: String, message: String },
    #[error("invalid Odoo connection settings: {0}")]
    Settings(String),
}

impl OdooError {
    /// Odoo rejected our credentials (at login, or later on a call).
    pub fn is_auth_failure(&self) -> bool {
        match self {
            OdooError::LoginFailed { .. } => true,
            OdooError::Server { name, .. } => name == "odoo.exceptions.AccessDenied",
            _ => false,
        }
    }

    /// The failure says nothing about the data (network, overload): retrying later may work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OdooError::Connect { .. } | OdooError::Timeout { .. } | OdooError::Malformed { .. }
        ) || matches!(self, OdooError::Http { status, .. } if *status >= 500)
    }
}
