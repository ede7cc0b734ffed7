//! What the simulator is serving now: the data, the credentials, the faults to inject, counters.
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::data::Store;

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

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub requests: BTreeMap<String, u64>,
    pub bytes_out: u64,
    pub non_read_calls: u64,
}

pub struct Sim {
    pub store: Store,
    pub database: String,
    pub login: String,
    pub password: String,
    pub uid: i64,
    pub faults: Vec<Fault>,
    pub stats: Stats,
    /// Deleted records, for /sim/restore: (model, id, record, the order of a line).
    pub graveyard: Vec<(String, i64, crate::data::Rec, Option<i64>)>,
}

impl Sim {
    pub fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| f.method.as_deref().is_none_or(|m| m == method))?;
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
}
