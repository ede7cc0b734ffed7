//! A read-only Odoo client that speaks both of Odoo's external APIs.
//!
//! * [`methods`]: the allowlist. [`ReadMethod`] is the only way to name a model method, and it
//!   has exactly seven values, all reads, so a writing method cannot be expressed, let alone sent.
//! * [`fingerprint`]: the count, id sum and newest write_date of a set of records, in one answer.
//! * [`call`]: one read call, in the form both protocols encode.
//! * [`jsonrpc`]: `POST /jsonrpc` (Odoo 16 to 19): envelopes, errors with HTTP 200.
//! * [`json2`]: `POST /json/2/<model>/<method>` (Odoo 19 and later): bearer API key, bare
//!   results, errors as HTTP statuses.
//! * [`version`]: which protocol a server speaks, from the version it reports.
//! * [`transport`]: HTTP (ureq + rustls), timeouts, size limit, interruption between chunks.
//! * [`settings`]: what a client is given (server, secret, timeouts, the stop and budget hooks).
//! * [`client`]: choosing the protocol, login, the read calls.
//! * [`secret_file`]: reading the API key from a file that only its owner can read.
//! * [`time`]: Odoo's datetimes.
//! * [`page`]: a page of records as it came, its ids read at once, its records parsed later.
pub mod call;
pub mod client;
pub mod error;
pub mod fingerprint;
pub mod json2;
pub mod jsonrpc;
pub mod methods;
pub mod page;
pub mod secret_file;
pub mod settings;
pub mod time;
pub mod transport;
pub mod version;

#[cfg(test)]
mod wire_tests;

pub use client::{Client, Detected};
pub use settings::{Interrupt, Pace, Settings};
pub use error::OdooError;
pub use methods::ReadMethod;
pub use version::{Protocol, ProtocolChoice};
