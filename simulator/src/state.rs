//! What the simulator is serving now: the data, the credentials, the faults to inject, counters.
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

use crate::data::Store;
use crate::http::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait `delay_ms`, then answer normally.
    Delay,
    /// HTTP 500 with an HTML body, as a reverse proxy in front of a dead Odoo would.
    Http500,
    /// HTTP 200 with a truncated JSON body.
    Malformed,
    /// Close the connection without answering.
    Drop,
    /// Odoo's error envelope with `name` and `message` (say, an AccessError on a record).
    OdooError,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// Only requests for this method (`search_read`, `authenticate`, ...); any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// How many requests it hits; negative means until cleared.
    #[serde(default = "one")]
    pub count: i64,
    /// How many matching requests it lets through first (a fault in the middle of a run).
    #[serde(default)]
    pub after: u64,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> i64 {
    1
}

impl Fault {
    /// What the fault does to a request: `None` lets it through (after a delay, for `Delay`);
    /// `odoo_error` words an Odoo exception in the protocol of the request.
    pub fn reply(&self, odoo_error: impl FnOnce(&str, &str) -> Reply) -> Option<Reply> {
        match self.kind {
            FaultKind::Delay => {
                std::thread::sleep(std::time::Duration::from_millis(self.delay_ms));
                None
            }
            FaultKind::Http500 => Some(Reply::html(500, "<html><body><h1>500 Internal Server Error</h1></body></html>")),
            FaultKind::Malformed => Some(Reply::Send {
                status: 200,
                content_type: "application/json",
                body: br#"{"jsonrpc": "2.0", "id": 1, "result": [{"id": 1, "name": "#.to_vec(),
                headers: vec![],
            }),
            FaultKind::Drop => Some(Reply::Drop),
            FaultKind::OdooError => Some(odoo_error(
                self.name.as_deref().unwrap_or("odoo.exceptions.AccessError"),
                self.message.as_deref().unwrap_or("You are not allowed to access this document."),
            )),
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    /// Per model method (and `authenticate`, `version`).
    pub requests: BTreeMap<String, u64>,
    /// Per protocol: `jsonrpc`, `json2`, and `version` for GET /json/version and /web/version.
    pub protocols: BTreeMap<String, u64>,
    pub bytes_out: u64,
    pub non_read_calls: u64,
    /// The most model requests served at once (each on a worker).
    pub most_at_once: usize,
    /// The User-Agent of the last request.
    pub user_agent: Option<String>,
}

/// What serving one record costs a simulated Odoo worker, in wall time (a sleep, not CPU): so
/// that a 2-core machine can play an Odoo with several remote workers. Zero by default.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServingCost {
    pub order: std::time::Duration,
    pub line: std::time::Duration,
}

pub struct Sim {
    /// The Odoo major version played: 18 (JSON-RPC only), 19 (both), 20 (JSON-2 only).
    pub version: u32,
    pub serving_cost: ServingCost,
    pub store: Store,
    pub database: String,
    pub login: String,
    pub password: String,
    pub uid: i64,
    /// API keys of the user (any of them also works in place of the password on JSON-RPC).
    pub api_keys: BTreeSet<String>,
    /// Models the user may not read (`/sim/acl`): an AccessError, as with a missing ACL.
    pub denied: BTreeSet<String>,
    pub keys_made: u64,
    pub faults: Vec<Fault>,
    pub stats: Stats,
    /// Deleted records, for /sim/restore: (model, id, record, the order of a line).
    pub graveyard: Vec<(String, i64, crate::data::Rec, Option<i64>)>,
}

impl Sim {
    pub fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| f.method.as_deref().is_none_or(|m| m == method))?;
        if self.faults[i].after > 0 {
            self.faults[i].after -= 1;
            return None;
        }
        let f = self.faults[i].clone();
        if f.count > 0 {
            self.faults[i].count -= 1;
            if self.faults[i].count == 0 {
                self.faults.remove(i);
            }
        }
        Some(f)
    }

    pub fn count(&mut self, method: &str) {
        *self.stats.requests.entry(method.to_owned()).or_default() += 1;
    }

    pub fn count_protocol(&mut self, protocol: &str, user_agent: Option<&str>) {
        *self.stats.protocols.entry(protocol.to_owned()).or_default() += 1;
        self.stats.user_agent = user_agent.map(str::to_owned);
    }

    /// The password, or one of the user's API keys (as Odoo accepts on JSON-RPC).
    pub fn secret_ok(&self, secret: &str) -> bool {
        secret == self.password || self.api_keys.contains(secret)
    }

    /// A new API key: 40 lowercase hex characters, as Odoo makes them.
    pub fn new_api_key(&mut self) -> String {
        self.keys_made += 1;
        let mut key = String::new();
        let mut x = self.keys_made.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.store.seed;
        while key.len() < 40 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key.push_str(&format!("{x:016x}"));
        }
        key.truncate(40);
        self.api_keys.insert(key.clone());
        key
    }

    /// What serving `result` (a list of records, for `read` and `search_read`) costs.
    pub fn serving_time(&self, model: &str, method: &str, result: &serde_json::Value) -> std::time::Duration {
        let per_record = match model {
            crate::data::ORDER => self.serving_cost.order,
            crate::data::LINE => self.serving_cost.line,
            _ => std::time::Duration::ZERO,
        };
        match (method, result.as_array()) {
            ("read" | "search_read", Some(records)) => per_record * records.len() as u32,
            _ => std::time::Duration::ZERO,
        }
    }

    /// Odoo 19 compares datetimes at whole-second granularity.
    pub fn whole_second_datetimes(&self) -> bool {
        self.version >= 19
    }
}
