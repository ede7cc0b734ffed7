//! What the simulator is serving now: the data, the credentials, the faults to inject, the
//! limits, the serving costs, counters.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::data::Store;
use crate::faults::{Chaos, Fault};
use crate::limits::Limits;

/// The read methods every version serves (`methods.rs`).
pub const READ_METHODS: [&str; 5] = ["fields_get", "search", "search_read", "search_count", "read"];

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    /// Per model method (and `authenticate`, `version`).
    pub requests: BTreeMap<String, u64>,
    /// Per protocol: `jsonrpc`, `json2`, and `version` for GET /json/version and /web/version.
    pub protocols: BTreeMap<String, u64>,
    pub bytes_out: u64,
    pub non_read_calls: u64,
    /// Records looked at to answer the model requests (through an index, or by a domain's
    /// filter), and the most one request looked at: what a request costs, in records and not in
    /// seconds. A page, a count or a fingerprint looks at about what it answers, whatever the
    /// model holds.
    pub records_visited: u64,
    pub most_records_visited: u64,
    /// The most model requests served at once (each on a worker).
    pub most_at_once: usize,
    /// The most Odoo requests (JSON-RPC, JSON-2, version routes) that arrived within one second.
    pub most_per_second: usize,
    /// Answers other than 200, by status (`"404"`, `"429"`, ...), and connections closed without
    /// a full answer: `"drop"`, `"cut"`, `"time_limit"` (a worker killed by `limit_time_real`).
    pub failed: BTreeMap<String, u64>,
    /// Faults injected (by `/sim/fault` or chaos), by kind.
    pub faults: BTreeMap<String, u64>,
    /// The User-Agent of the last request.
    pub user_agent: Option<String>,
}

impl Stats {
    /// Count an answer that is not a 200 (or no answer at all).
    pub fn count_reply(&mut self, reply: &crate::http::Reply) {
        use crate::http::Reply;
        let key = match reply {
            Reply::Send { status: 200, .. } => return,
            Reply::Send { status, .. } => status.to_string(),
            Reply::Drop => "drop".into(),
            Reply::Cut { .. } => "cut".into(),
            Reply::Killed => "time_limit".into(),
        };
        *self.failed.entry(key).or_default() += 1;
    }
}

/// What serving costs a simulated Odoo worker, in wall time (a sleep, not CPU): so that a 2-core
/// machine can play an Odoo with several remote workers. Zero by default.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cost {
    /// Each record of a `read` or `search_read` answer.
    pub per_record: Duration,
    /// Each KB (1,024 bytes) of the answer's body.
    pub per_kb: Duration,
}

pub struct Sim {
    /// The Odoo major version played, 16 to 22 (`main.rs` says what each serves).
    pub version: u32,
    /// Per model (`--cost-order-us`, `--cost-line-us`, `/sim/cost`).
    pub costs: BTreeMap<String, Cost>,
    pub limits: Limits,
    pub store: Store,
    pub database: String,
    pub login: String,
    pub password: String,
    pub uid: i64,
    /// API keys of the user (any of them also works in place of the password on JSON-RPC).
    pub api_keys: BTreeSet<String>,
    /// Models the user may not read (`/sim/acl`): an AccessError on the model, and on any
    /// one2many / many2many to it that a read asks for.
    pub denied: BTreeSet<String>,
    pub keys_made: u64,
    pub faults: Vec<Fault>,
    pub chaos: Option<Chaos>,
    pub stats: Stats,
}

impl Sim {
    /// A simulator serving `store`, with the default credentials and nothing injected.
    pub fn new(version: u32, store: Store) -> Sim {
        Sim {
            version,
            costs: BTreeMap::new(),
            limits: Limits::default(),
            store,
            database: "dimagaz".into(),
            login: "admin".into(),
            password: "admin".into(),
            uid: 2,
            api_keys: BTreeSet::new(),
            denied: BTreeSet::new(),
            keys_made: 0,
            faults: Vec::new(),
            chaos: None,
            stats: Stats::default(),
        }
    }

    /// The fault for this request: a queued one for its method first, else chaos' draw.
    pub fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let f = self.queued_fault(method).or_else(|| self.chaos.as_mut().and_then(Chaos::draw))?;
        *self.stats.faults.entry(f.kind.name().to_owned()).or_default() += 1;
        Some(f)
    }

    fn queued_fault(&mut self, method: &str) -> Option<Fault> {
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

    /// What serving an answer costs: per record of a `read` / `search_read` result (`records`:
    /// the length of the result), and per KB of the body sent (`body_len`).
    pub fn serving_time(&self, model: &str, method: &str, records: usize, body_len: usize) -> Duration {
        let cost = self.costs.get(model).copied().unwrap_or_default();
        let records = if matches!(method, "read" | "search_read") { records as u32 } else { 0 };
        cost.per_record * records + cost.per_kb.mul_f64(body_len as f64 / 1024.0)
    }

    /// A successful answer: counts its bytes, and adds what serving it costs to `owed` (which the
    /// caller spends without holding the simulator's lock).
    pub fn answered(&mut self, model: &str, method: &str, records: usize, reply: &crate::http::Reply, owed: &mut Duration) {
        if let crate::http::Reply::Send { body, .. } = reply {
            self.stats.bytes_out += body.len() as u64;
            *owed += self.serving_time(model, method, records, body.len());
        }
    }

    /// Odoo 19 compares datetimes at whole-second granularity.
    pub fn whole_second_datetimes(&self) -> bool {
        self.version >= 19
    }

    /// Whether this server has `method` (besides the plain read methods every version serves):
    /// `read_group` until 20 (Odoo Online 19.1+ has dropped it: `disabled_methods`),
    /// `formatted_read_group` from 19, with the `web` addon.
    pub fn serves(&self, method: &str) -> bool {
        if self.limits.disabled_methods.contains(method) {
            return false;
        }
        match method {
            "read_group" => self.version <= 20,
            "formatted_read_group" => self.version >= 19 && self.limits.web,
            _ => READ_METHODS.contains(&method),
        }
    }

    /// `/jsonrpc`: Odoo 16 to 21 (deprecated from 19, removed in 22), unless a proxy hides it.
    pub fn serves_jsonrpc(&self) -> bool {
        self.version <= 21 && self.limits.jsonrpc
    }
}
