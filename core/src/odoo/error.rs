//! What can go wrong talking to Odoo, and how each failure is told apart (a glitch worth
//! trying again, a request too heavy, a rate limit, a refusal naming a field).
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
    /// The request was sent, then the connection closed or was reset before the whole answer
    /// came: Odoo killed the worker serving it (`limit_time_real`), or a proxy gave up.
    #[error("Odoo at {url} closed the connection before its answer was complete ({detail})")]
    Cut { url: String, detail: String },
    /// HTTP 429 or 503 still, after waiting as told (`Retry-After`) as long as scrap_sga waits
    /// within a run: the next run comes after at least `retry_after`.
    #[error("Odoo at {url} (or a proxy in front of it) keeps answering HTTP {status}, too many requests or unavailable{}", retry_after.map(|d| format!("; it asks to wait {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { url: String, status: u16, retry_after: Option<std::time::Duration> },
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

    /// The answer failed while Odoo was serving it: too large for `max_response_mb`, slower than
    /// `read_timeout`, cut (a worker killed by `limit_time_real`), or a proxy's 502 or 504. A
    /// request for fewer records may pass where this one did not.
    pub fn is_too_heavy(&self) -> bool {
        matches!(self, OdooError::TooLarge { .. } | OdooError::Timeout { .. } | OdooError::Cut { .. })
            || matches!(self, OdooError::Http { status: 502 | 504, .. })
    }

    /// An error one record's data may cause, while the model's other records read well: an
    /// exception in Odoo's code reading it (a ValueError in a compute, a MissingError, a record
    /// rule refusing it), or an answer that is not JSON because of one value (a float NaN, which
    /// Python writes and JSON has no word for). A smaller request may pass; whether the rest of
    /// the model reads well is for the caller to check (an error of every record looks the same).
    /// Not a right the user lacks on the model or on a field (`unreadable_field`: that field is
    /// left out instead), nor a login refused or a method missing.
    pub fn may_be_one_records(&self) -> bool {
        match self {
            OdooError::Server { .. } => !self.is_auth_failure() && !self.is_unknown_method(),
            // The model's access right ("You are not allowed to access 'X' (x) records.") and a
            // field are the user's; a record rule's refusal ("Due to security restrictions ...",
            // "Uh-oh! Looks like you have stumbled upon some top-secret records." since 17) is
            // the record's.
            OdooError::AccessDenied { message, .. } => !message.starts_with("Failed to read field ") && !message.starts_with("You are not allowed to access"),
            OdooError::Malformed { .. } => true,
            _ => false,
        }
    }

    /// A failure on the way rather than an answer: a proxy's error page (HTTP 5xx without
    /// Odoo's exception), a cut, garbled or truncated body, no answer in time. Worth one more try.
    pub fn is_glitch(&self) -> bool {
        matches!(self, OdooError::Cut { .. } | OdooError::Timeout { .. } | OdooError::Malformed { .. })
            || matches!(self, OdooError::Http { status, .. } if *status >= 500)
    }

    /// The server has no such method (JSON-2: a 404 "The method ... does not exist"; JSON-RPC:
    /// an AttributeError): a method of another version, or of an addon it does not have.
    pub fn is_unknown_method(&self) -> bool {
        match self {
            OdooError::UnknownModel { message, .. } => message.starts_with("The method") && message.contains("does not exist"),
            OdooError::Server { name, message } => name == "builtins.AttributeError" && message.contains("has no attribute"),
            _ => false,
        }
    }

    /// Nothing came back from the server at all: unreachable, silent, or the connection closed
    /// before any answer. Any answer, even an error, says the server is up.
    pub fn is_silence(&self) -> bool {
        matches!(self, OdooError::Connect { .. } | OdooError::Timeout { .. } | OdooError::Cut { .. })
    }

    /// Odoo cannot be reached: nothing came back at all, or the proxy in front of it says it
    /// cannot reach it (502 Bad Gateway, 503, 504 Gateway Timeout). On a small request, this is
    /// not a request too heavy for Odoo but Odoo gone.
    pub fn is_unreachable(&self) -> bool {
        self.is_silence() || matches!(self, OdooError::Http { status: 502..=504, .. } | OdooError::RateLimited { status: 503, .. })
    }

    /// The field of `model` the user may not read, when that is why Odoo refused a read: its
    /// AccessError begins "Failed to read field <model>.<field>" (the field's related model is
    /// one the user has no read access to). The rest of the record can be read without it.
    pub fn unreadable_field(&self, model: &str) -> Option<&str> {
        let OdooError::AccessDenied { message, .. } = self else { return None };
        let rest = message.strip_prefix("Failed to read field ")?.strip_prefix(model)?.strip_prefix('.')?;
        let field = rest.split(|c: char| c.is_whitespace()).next()?;
        (!field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(field)
    }

    /// What was asked of a model cannot be had by asking again: Odoo has no such model, or the
    /// sync user may not read it, or may not read a field it needs to answer (a display name made
    /// of another model's fields). Until its rights change, the request fails the same way.
    pub fn refuses_model(&self) -> bool {
        match self {
            OdooError::UnknownModel { .. } => !self.is_unknown_method(),
            OdooError::AccessDenied { message, .. } => message.starts_with("You are not allowed to access") || message.starts_with("Failed to read field "),
            _ => false,
        }
    }

    /// How long Odoo asked to be left alone, when it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            OdooError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_refused_is_told_from_a_record_refused_and_a_method_missing() {
        let denied = |message: &str| OdooError::AccessDenied { model: "res.partner".into(), name: "odoo.exceptions.AccessError".into(), message: message.into() };
        assert!(denied("You are not allowed to access 'Contact' (res.partner) records.\n\nThis operation is allowed for ...").refuses_model());
        assert!(denied("Failed to read field res.partner.company_id\nYou are not allowed to access 'Companies' (res.company) records.").refuses_model());
        assert!(!denied("Due to security restrictions, you are not allowed to access 'Contact' (res.partner) records.").refuses_model(), "a record rule: the record's");
        let unknown = |message: &str| OdooError::UnknownModel { model: "x.y".into(), name: "odoo.exceptions.UserError".into(), message: message.into() };
        assert!(unknown("Object x.y doesn't exist").refuses_model());
        assert!(!unknown("The method 'formatted_read_group' does not exist on the model 'x.y'").refuses_model());
        assert!(!OdooError::Server { name: "builtins.ValueError".into(), message: "boom".into() }.refuses_model());
    }

    #[test]
    fn the_field_an_access_error_names() {
        let denied = |message: &str| OdooError::AccessDenied { model: "dimagaz.bc".into(), name: "odoo.exceptions.AccessError".into(), message: message.into() };
        let e = denied("Failed to read field dimagaz.bc.tag_ids\nYou are not allowed to access 'Partner Tags' (res.partner.category) records.");
        assert_eq!(e.unreadable_field("dimagaz.bc"), Some("tag_ids"));
        assert_eq!(e.unreadable_field("dimagaz.bc.line"), None, "another model's field");
        assert_eq!(denied("You are not allowed to access 'dimagaz.bc' (dimagaz.bc) records.").unreadable_field("dimagaz.bc"), None);
        assert_eq!(denied("Failed to read field dimagaz.bc.\nx").unreadable_field("dimagaz.bc"), None);
    }

    #[test]
    fn what_one_record_may_cause() {
        let url = String::from("http://odoo");
        let server = |name: &str, message: &str| OdooError::Server { name: name.into(), message: message.into() };
        assert!(server("builtins.ValueError", "could not convert string to float: 'x'").may_be_one_records());
        assert!(server("odoo.exceptions.MissingError", "Record does not exist or has been deleted.").may_be_one_records());
        assert!(OdooError::Malformed { url: url.clone(), what: "NaN at line 1".into() }.may_be_one_records());
        let rule = OdooError::AccessDenied { model: "m".into(), name: "odoo.exceptions.AccessError".into(), message: "Due to security restrictions, you are not allowed to access 'M' (m) records.\n\nRecords: X (id=5)".into() };
        assert!(rule.may_be_one_records());
        let rule17 = OdooError::AccessDenied { model: "m".into(), name: "odoo.exceptions.AccessError".into(), message: "Uh-oh! Looks like you have stumbled upon some top-secret records.\n\nSorry, Sync (id=7) doesn't have 'read' access to:\n- M, X (m: 5)".into() };
        assert!(rule17.may_be_one_records());
        let acl = OdooError::AccessDenied { model: "m".into(), name: "odoo.exceptions.AccessError".into(), message: "You are not allowed to access 'M' (m) records.\n\nThis operation is allowed for the following groups:".into() };
        assert!(!acl.may_be_one_records(), "the model's access right is the user's");
        let field = OdooError::AccessDenied { model: "m".into(), name: "odoo.exceptions.AccessError".into(), message: "Failed to read field m.tag_ids\nYou are not allowed".into() };
        assert!(!field.may_be_one_records(), "a field is left out, whatever its model");
        assert!(!server("odoo.exceptions.AccessDenied", "Access Denied").may_be_one_records(), "a login refused");
        assert!(!server("builtins.AttributeError", "type object 'm' has no attribute 'x'").may_be_one_records(), "a method missing");
        assert!(!OdooError::TooLarge { limit: 1 }.may_be_one_records(), "a size: the batch sizer's");
        assert!(!OdooError::Http { url: url.clone(), status: 500, what: String::new() }.may_be_one_records());
        assert!(!OdooError::Connect { url, detail: "refused".into() }.may_be_one_records());
    }

    #[test]
    fn what_a_smaller_batch_may_cure() {
        let url = String::from("http://odoo");
        assert!(OdooError::TooLarge { limit: 1 }.is_too_heavy());
        assert!(OdooError::Cut { url: url.clone(), detail: "reset".into() }.is_too_heavy());
        assert!(OdooError::Timeout { url: url.clone(), phase: "answer".into() }.is_too_heavy());
        assert!(OdooError::Http { url: url.clone(), status: 504, what: String::new() }.is_too_heavy());
        assert!(!OdooError::Http { url: url.clone(), status: 500, what: String::new() }.is_too_heavy());
        assert!(!OdooError::Connect { url, detail: "refused".into() }.is_too_heavy());
    }
}
