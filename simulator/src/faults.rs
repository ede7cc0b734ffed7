//! Injected faults (`/sim/fault`, one at a time and counted) and chaos (`/sim/chaos`, a random
//! fault per request): what a flaky Odoo, or the proxy in front of it, does to an answer.
use serde::Deserialize;
use std::time::Duration;

use crate::http::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait `delay_ms`, then answer normally (the wait is serving time: `limit_time_real` counts it).
    Delay,
    /// The same as `delay`.
    Slow,
    /// HTTP 500 with an HTML body, as a reverse proxy in front of a dead Odoo would.
    Http500,
    /// HTTP 429 Too Many Requests from a proxy, with `Retry-After: <retry_after>` when given.
    Http429,
    /// HTTP 502 Bad Gateway from a proxy (Odoo down or restarting).
    Http502,
    /// HTTP 503 Service Unavailable, with `Retry-After: <retry_after>` when given.
    Http503,
    /// HTTP 504 Gateway Timeout from a proxy.
    Http504,
    /// HTTP 200 with a truncated JSON body.
    Malformed,
    /// Close the connection without answering.
    Drop,
    /// The status line, the headers and half of the body, then the connection closes.
    Cut,
    /// The normal answer padded with whitespace to `bytes` bytes: valid JSON, and big.
    Huge,
    /// Odoo's error envelope with `name` and `message` (say, an AccessError on a record).
    OdooError,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Delay => "delay",
            FaultKind::Slow => "slow",
            FaultKind::Http500 => "http500",
            FaultKind::Http429 => "http429",
            FaultKind::Http502 => "http502",
            FaultKind::Http503 => "http503",
            FaultKind::Http504 => "http504",
            FaultKind::Malformed => "malformed",
            FaultKind::Drop => "drop",
            FaultKind::Cut => "cut",
            FaultKind::Huge => "huge",
            FaultKind::OdooError => "odoo_error",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// Only requests for this method (`search_read`, `authenticate`, `version`, ...); any when absent.
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
    /// `Retry-After` of `http429` / `http503`: seconds (`"2"`) or an HTTP date.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// The body size of `huge`.
    #[serde(default)]
    pub bytes: Option<usize>,
}

fn one() -> i64 {
    1
}

/// What a fault does to a request.
pub enum Effect {
    /// An answer in place of Odoo's.
    Answer(Reply),
    /// Serve the request, this much slower.
    Delay(Duration),
    /// Serve the request, then change its answer.
    Then(Post),
}

pub enum Post {
    Pad(usize),
    Cut,
}

impl Post {
    pub fn apply(&self, reply: Reply) -> Reply {
        match (self, reply) {
            (Post::Pad(n), Reply::Send { status, content_type, mut body, headers }) => {
                body.resize(body.len().max(*n), b' ');
                Reply::Send { status, content_type, body, headers }
            }
            (Post::Cut, Reply::Send { status, content_type, body, headers }) => Reply::Cut { status, content_type, body, headers },
            (_, other) => other,
        }
    }
}

/// What the fault drawn for a request (`Sim::take_fault`), if any, does to it: `Err` is the
/// answer to send instead of Odoo's, `Ok(Some(post))` what to do to Odoo's answer; a delay adds
/// to `owed`, the serving time. `odoo_error` words an Odoo exception in the protocol of the
/// request.
pub fn intercept(fault: Option<Fault>, owed: &mut Duration, odoo_error: impl FnOnce(&str, &str) -> Reply) -> Result<Option<Post>, Reply> {
    let Some(f) = fault else { return Ok(None) };
    match f.effect(odoo_error) {
        Effect::Answer(r) => Err(r),
        Effect::Delay(d) => {
            *owed += d;
            Ok(None)
        }
        Effect::Then(post) => Ok(Some(post)),
    }
}

/// A proxy's error page (nginx words them so).
fn proxy_page(status: u16, reason: &str, retry_after: Option<&str>) -> Reply {
    let page = format!("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
    let reply = Reply::html(status, &page);
    match retry_after {
        Some(r) => reply.with_header("Retry-After", r),
        None => reply,
    }
}

/// The 429 of a rate limit, as a proxy sends it.
pub fn too_many_requests(retry_after: Option<&str>) -> Reply {
    proxy_page(429, "Too Many Requests", retry_after)
}

impl Fault {
    pub fn new(kind: FaultKind) -> Fault {
        Fault { kind, method: None, count: 1, after: 0, delay_ms: 0, name: None, message: None, retry_after: None, bytes: None }
    }

    /// `odoo_error` words an Odoo exception in the protocol of the request.
    pub fn effect(&self, odoo_error: impl FnOnce(&str, &str) -> Reply) -> Effect {
        let retry_after = self.retry_after.as_deref();
        Effect::Answer(match self.kind {
            FaultKind::Delay | FaultKind::Slow => return Effect::Delay(Duration::from_millis(self.delay_ms)),
            FaultKind::Huge => return Effect::Then(Post::Pad(self.bytes.unwrap_or(1 << 20))),
            FaultKind::Cut => return Effect::Then(Post::Cut),
            FaultKind::Http500 => Reply::html(500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
            FaultKind::Http429 => too_many_requests(retry_after),
            FaultKind::Http502 => proxy_page(502, "Bad Gateway", None),
            FaultKind::Http503 => proxy_page(503, "Service Temporarily Unavailable", retry_after),
            FaultKind::Http504 => proxy_page(504, "Gateway Time-out", None),
            FaultKind::Malformed => Reply::Send {
                status: 200,
                content_type: "application/json",
                body: br#"{"jsonrpc": "2.0", "id": 1, "result": [{"id": 1, "name": "#.to_vec(),
                headers: vec![],
            },
            FaultKind::Drop => Reply::Drop,
            FaultKind::OdooError => odoo_error(
                self.name.as_deref().unwrap_or("odoo.exceptions.AccessError"),
                self.message.as_deref().unwrap_or("You are not allowed to access this document."),
            ),
        })
    }
}

/// `/sim/chaos`: each Odoo request independently gets one of `kinds` with `probability`.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub probability: f64,
    pub kinds: Vec<FaultKind>,
    pub slow_ms: u64,
    pub retry_after: Option<String>,
    pub bytes: Option<usize>,
    state: u64,
}

impl Chaos {
    /// From `{probability, kinds, seed, slow_ms, retry_after, bytes}`; `None` when it stops chaos.
    pub fn from_json(v: &serde_json::Value) -> Result<Option<Chaos>, String> {
        let probability = v["probability"].as_f64().unwrap_or(0.0);
        if probability <= 0.0 {
            return Ok(None);
        }
        let kinds: Vec<FaultKind> = serde_json::from_value(v["kinds"].clone()).map_err(|e| format!("kinds: {e}"))?;
        if kinds.is_empty() || kinds.contains(&FaultKind::OdooError) {
            return Err("kinds: a non-empty list of fault kinds, odoo_error aside".into());
        }
        Ok(Some(Chaos {
            probability: probability.min(1.0),
            kinds,
            slow_ms: v["slow_ms"].as_u64().unwrap_or(1000),
            retry_after: v["retry_after"].as_str().map(str::to_owned),
            bytes: v["bytes"].as_u64().map(|b| b as usize),
            state: v["seed"].as_u64().unwrap_or(1) | 1,
        }))
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// The fault for this request, if the dice say so.
    pub fn draw(&mut self) -> Option<Fault> {
        let roll = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        if roll >= self.probability {
            return None;
        }
        let pick = (self.next() % self.kinds.len() as u64) as usize;
        let kind = self.kinds[pick];
        Some(Fault { delay_ms: self.slow_ms, retry_after: self.retry_after.clone(), bytes: self.bytes, ..Fault::new(kind) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status_of(r: &Reply) -> u16 {
        match r {
            Reply::Send { status, .. } => *status,
            _ => 0,
        }
    }

    #[test]
    fn proxy_statuses_carry_retry_after_when_given() {
        let f: Fault = serde_json::from_value(json!({"kind": "http429", "retry_after": "2"})).unwrap();
        let Effect::Answer(Reply::Send { status, headers, content_type, .. }) = f.effect(|_, _| Reply::Drop) else { panic!() };
        assert_eq!(status, 429);
        assert!(content_type.starts_with("text/html"));
        assert_eq!(headers, vec![("Retry-After", "2".to_owned())]);
        for (kind, want) in [("http502", 502), ("http503", 503), ("http504", 504), ("http500", 500)] {
            let f: Fault = serde_json::from_value(json!({"kind": kind})).unwrap();
            let Effect::Answer(r) = f.effect(|_, _| Reply::Drop) else { panic!() };
            assert_eq!(status_of(&r), want);
        }
    }

    #[test]
    fn huge_pads_to_valid_json_and_cut_keeps_the_head() {
        let Effect::Then(post) = serde_json::from_value::<Fault>(json!({"kind": "huge", "bytes": 5000})).unwrap().effect(|_, _| Reply::Drop) else { panic!() };
        let Reply::Send { body, .. } = post.apply(Reply::json(200, &json!([1, 2]))) else { panic!() };
        assert_eq!(body.len(), 5000);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap(), json!([1, 2]));
        let Effect::Then(post) = Fault::new(FaultKind::Cut).effect(|_, _| Reply::Drop) else { panic!() };
        assert!(matches!(post.apply(Reply::json(200, &json!([1]))), Reply::Cut { .. }));
    }

    #[test]
    fn chaos_hits_about_its_probability_with_the_kinds_listed() {
        let mut c = Chaos::from_json(&json!({"probability": 0.3, "kinds": ["http503", "drop"], "seed": 9})).unwrap().unwrap();
        let hits: Vec<Fault> = (0..10_000).filter_map(|_| c.draw()).collect();
        assert!((2_700..3_300).contains(&hits.len()), "{}", hits.len());
        assert!(hits.iter().all(|f| matches!(f.kind, FaultKind::Http503 | FaultKind::Drop)));
        assert!(hits.iter().any(|f| f.kind == FaultKind::Drop) && hits.iter().any(|f| f.kind == FaultKind::Http503));
        assert!(Chaos::from_json(&json!({"probability": 0})).unwrap().is_none());
        assert!(Chaos::from_json(&json!({"probability": 0.5, "kinds": ["nope"]})).is_err());
    }
}
