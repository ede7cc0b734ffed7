use thiserror::Error;

/// Everything that can go wrong talking to Odoo, under either protocol. Messages never contain
/// the secret: text that comes from the server is scrubbed before it is stored here (see
/// `Transport::scrub`), and request headers and bodies are never part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OdooError {
    #[error("cannot connect to Odoo at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("Odoo at {url} did not answer in time ({phase})")]
    Timeout { url: String, phase: String },
    #[error("interrupted while waiting for Odoo")]
    Interrupted,
    /// An answer that is neither a result nor one of Odoo's error formats (a proxy's error page,
    /// say). `what` describes the body without quoting it raw.
    #[error("Odoo at {url} answered HTTP {status} with {what}")]
    Http { url: String, status: u16, what: String },
    #[error("Odoo at {url} sent an answer that is not valid JSON: {what}")]
    Malformed { url: String, what: String },
    #[error("Odoo's answer is larger than the {limit}-byte limit (scrap_sga.max_response_mb)")]
    TooLarge { limit: u64 },
    #[error("Odoo refused the login of user {login:?} on database {database:?} (wrong login or secret)")]
    LoginFailed { database: String, login: String },
    #[error("Odoo refused the API key on database {database:?} (HTTP 401, {detail}); check the key, or whether it was revoked or expired")]
    KeyRejected { database: String, detail: String },
    #[error("the Odoo user has no read access to model {model} ({name}: {message})")]
    AccessDenied { model: String, name: String, message: String },
    #[error("Odoo has no model {model} ({name}: {message})")]
    UnknownModel { model: String, name: String, message: String },
    #[error("database {database:?} was not found on the Odoo server at {url} (it does not exist, or the server's db filter rejects it)")]
    DatabaseNotFound { url: String, database: String },
    /// Odoo said our request was malformed (HTTP 400, 415, 422): a bug on our side.
    #[error("Odoo at {url} rejected scrap_sga's request for {call} (HTTP {status}: {detail}); this is a bug in scrap_sga")]
    RequestRejected { url: String, call: String, status: u16, detail: String },
    #[error("Odoo at {url} answered neither JSON-2 nor JSON-RPC; tried {tried}")]
    NoProtocol { url: String, tried: String },
    /// Odoo answered with its error format; `name` is the Python exception class.
    #[error("Odoo raised {name}: {message}")]
    Server { name: String, message: String },
    #[error("invalid Odoo connection settings: {0}")]
    Settings(String),
    /// A bug on our side around a call (its thread panicked, say): nothing Odoo did.
    #[error("internal error in scrap_sga's Odoo client: {0}")]
    Internal(String),
}

impl OdooError {
    /// Odoo rejected our credentials (at login, or later on a call).
    pub fn is_auth_failure(&self) -> bool {
        match self {
            OdooError::LoginFailed { .. } | OdooError::KeyRejected { .. } => true,
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
