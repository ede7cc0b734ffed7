//! What the Odoo played, or the proxy in front of it, refuses to do: serve a request longer than
//! `limit_time_real` (the worker is killed, the connection closes unanswered), take more than N
//! requests a second (HTTP 429), serve `/jsonrpc` at all, or some methods (Odoo Online 19.1+ no
//! longer serves `read_group`; a server without the `web` addon has no `formatted_read_group`).
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limits {
    /// `--limit-time-real-ms`: 0, no limit.
    pub time_real: Duration,
    /// Odoo requests admitted per second; 0, no limit.
    pub rate_per_second: usize,
    /// The 429's `Retry-After`: seconds or an HTTP date.
    pub retry_after: Option<String>,
    /// `--no-jsonrpc` makes it false, whatever the version.
    pub jsonrpc: bool,
    /// The `web` addon (`--no-web` makes it false): `formatted_read_group` is defined there.
    pub web: bool,
    /// Methods that do not exist on this server.
    pub disabled_methods: BTreeSet<String>,
    /// Arrivals of the last second, and admissions (what the rate limit counts).
    arrivals: VecDeque<Instant>,
    admitted: VecDeque<Instant>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            time_real: Duration::ZERO,
            rate_per_second: 0,
            retry_after: None,
            jsonrpc: true,
            web: true,
            disabled_methods: BTreeSet::new(),
            arrivals: VecDeque::new(),
            admitted: VecDeque::new(),
        }
    }
}

/// What one arrival tells: how many Odoo requests arrived within the last second (itself
/// included), and whether the rate limit refuses it.
pub struct Arrival {
    pub within_second: usize,
    pub refused: bool,
}

fn forget_older(q: &mut VecDeque<Instant>, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
        q.pop_front();
    }
}

impl Limits {
    /// `/sim/limits {time_real_ms, rate_per_second, retry_after, jsonrpc, web, disabled_methods}`:
    /// the keys given change, the others stay.
    pub fn update(&mut self, v: &Value) -> Result<(), String> {
        if let Some(ms) = v.get("time_real_ms") {
            self.time_real = Duration::from_millis(ms.as_u64().ok_or("time_real_ms is a number")?);
        }
        if let Some(n) = v.get("rate_per_second") {
            self.rate_per_second = n.as_u64().ok_or("rate_per_second is a number")? as usize;
            self.admitted.clear();
        }
        if let Some(r) = v.get("retry_after") {
            self.retry_after = match r {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => return Err("retry_after is a string, a number or null".into()),
            };
        }
        if let Some(b) = v.get("jsonrpc") {
            self.jsonrpc = b.as_bool().ok_or("jsonrpc is a boolean")?;
        }
        if let Some(b) = v.get("web") {
            self.web = b.as_bool().ok_or("web is a boolean")?;
        }
        if let Some(m) = v.get("disabled_methods") {
            let list = m.as_array().ok_or("disabled_methods is a list of method names")?;
            self.disabled_methods = list.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        }
        Ok(())
    }

    /// An Odoo request arrives: count it, and admit it unless more than `rate_per_second` were
    /// admitted within the last second (refused ones do not count, as a proxy's leaky bucket).
    pub fn arrive(&mut self, now: Instant) -> Arrival {
        forget_older(&mut self.arrivals, now);
        self.arrivals.push_back(now);
        forget_older(&mut self.admitted, now);
        let refused = self.rate_per_second > 0 && self.admitted.len() >= self.rate_per_second;
        if !refused {
            self.admitted.push_back(now);
        }
        Arrival { within_second: self.arrivals.len(), refused }
    }

    /// `serving` would run past `limit_time_real`: how long the worker lives before it is killed.
    pub fn kill_after(&self, serving: Duration) -> Option<Duration> {
        (!self.time_real.is_zero() && serving > self.time_real).then_some(self.time_real)
    }

    pub fn snapshot(&self) -> Value {
        serde_json::json!({
            "time_real_ms": self.time_real.as_millis() as u64,
            "rate_per_second": self.rate_per_second,
            "retry_after": self.retry_after,
            "jsonrpc": self.jsonrpc,
            "web": self.web,
            "disabled_methods": self.disabled_methods,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rate_limit_admits_n_a_second() {
        let mut l = Limits::default();
        l.update(&json!({"rate_per_second": 3, "retry_after": "2"})).unwrap();
        let t0 = Instant::now();
        let refused: Vec<bool> = (0..5).map(|i| l.arrive(t0 + Duration::from_millis(i * 10)).refused).collect();
        assert_eq!(refused, [false, false, false, true, true]);
        assert_eq!(l.arrive(t0 + Duration::from_millis(50)).within_second, 6);
        assert!(!l.arrive(t0 + Duration::from_millis(1_001)).refused, "a second later, room again");
        assert_eq!(l.retry_after.as_deref(), Some("2"));
    }

    #[test]
    fn time_limit_kills_only_past_it() {
        let mut l = Limits::default();
        assert_eq!(l.kill_after(Duration::from_secs(100)), None, "0: no limit");
        l.update(&json!({"time_real_ms": 200})).unwrap();
        assert_eq!(l.kill_after(Duration::from_millis(150)), None);
        assert_eq!(l.kill_after(Duration::from_millis(250)), Some(Duration::from_millis(200)));
    }

    #[test]
    fn update_keeps_what_is_not_named() {
        let mut l = Limits::default();
        l.update(&json!({"disabled_methods": ["read_group"], "jsonrpc": false})).unwrap();
        l.update(&json!({"time_real_ms": 5})).unwrap();
        assert!(!l.jsonrpc && l.disabled_methods.contains("read_group"));
        assert!(l.update(&json!({"jsonrpc": 3})).is_err());
    }
}
