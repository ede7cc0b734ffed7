//! A read-only Odoo client over JSON-RPC (`POST /jsonrpc`).
//!
//! * [`methods`]: the allowlist. [`ReadMethod`] is the only way to name a model method, and it
//!   has exactly five values, so a writing method cannot be expressed, let alone sent.
//! * [`rpc`]: the envelope and Odoo's error format (HTTP 200 with an `error` member).
//! * [`client`]: transport (ureq + rustls), timeouts, login, interruption between chunks.
pub mod client;
pub mod error;
pub mod methods;
pub mod rpc;

pub use client::{Client, Interrupt, Settings};
pub use error::OdooError;
pub use methods::ReadMethod;
