//! HTTP for both protocols: one agent (ureq + rustls), timeouts, a size limit, interruption
//! between chunks of an answer, Odoo's clock from the `Date` header, the request budget, the
//! waits a rate limit asks for (HTTP 429 and 503, `Retry-After`), and counters.
use std::cell::Cell;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::settings::{display_url, Interrupt, Pace, Settings};
use super::error::OdooError;

/// Answers of 429 or 503 waited for, per request, before giving up for this run.
const MAX_WAITS: u32 = 5;
/// A `Retry-After` longer than this is not waited for within a run: the run ends, and the
/// scheduler's next one comes after it (see `OdooError::retry_after`).
pub const LONGEST_WAIT: Duration = Duration::from_secs(120);

/// How long a 429 or 503 asks to wait: `Retry-After` in seconds or as an HTTP date; without
/// one, 1, 2, 4, 8 ... seconds by attempt (`attempt` from 0).
pub fn retry_after(header: Option<&str>, attempt: u32, now: chrono::DateTime<chrono::Utc>) -> Duration {
    let told = header.map(str::trim).and_then(|h| {
        h.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
            chrono::DateTime::parse_from_rfc2822(h).ok().map(|t| (t.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
        })
    });
    told.unwrap_or_else(|| Duration::from_secs(1 << attempt.min(6)))
}

pub const USER_AGENT: &str = concat!("scrap_sga/", env!("CARGO_PKG_VERSION"));

const CHUNK: usize = 64 * 1024;

/// A whole answer, whatever its status.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_json(&self) -> bool {
        self.content_type.starts_with("application/json")
    }
}

pub struct Transport {
    agent: ureq::Agent,
    base: String,
    /// The URL as messages show it (no `user:password@`).
    pub shown_url: String,
    secret: String,
    limit: u64,
    interrupt: Option<Interrupt>,
    pace: Option<Pace>,
    /// Each transport counts its own (a fork starts at zero).
    meter: Meter,
    /// And a transport and its forks count together, readable from any thread while they work.
    totals: Arc<Totals>,
}

/// Requests sent and answers of 429 or 503 waited for, by a client and every client forked from
/// it, as they happen: what a run under way has asked so far, from any thread.
#[derive(Debug, Default)]
pub struct Totals {
    requests: AtomicU64,
    waits: AtomicU64,
}

impl Totals {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Meter {
    requests: Cell<u64>,
    bytes_in: Cell<u64>,
    /// The body size of the last answer: what a page of records weighs.
    last_bytes: Cell<u64>,
    /// Answers of 429 or 503 waited for, and the time spent waiting (for them, and for the budget).
    waits: Cell<u64>,
    waited: Cell<Duration>,
    server_time: Cell<Option<chrono::DateTime<chrono::Utc>>>,
}

impl Transport {
    pub fn new(settings: &Settings, interrupt: Option<Interrupt>) -> Result<Transport, OdooError> {
        let base = settings.url.trim_end_matches('/').to_owned();
        let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
        if let Some(pem) = &settings.ca_bundle_pem {
            let mut certs: Vec<ureq::tls::Certificate<'static>> = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(OdooError::Settings(format!("the CA bundle is not valid PEM: {e}"))),
                }
            }
            if certs.is_empty() {
                return Err(OdooError::Settings("the CA bundle contains no certificate".into()));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_send_request(Some(settings.connect_timeout))
            .timeout_send_body(Some(settings.read_timeout))
            .timeout_recv_response(Some(settings.read_timeout))
            .timeout_recv_body(Some(settings.read_timeout))
            .user_agent(USER_AGENT)
            .tls_config(tls.build())
            .build();
        Ok(Transport {
            agent: config.new_agent(),
            shown_url: display_url(&base),
            base,
            secret: settings.secret.clone(),
            limit: settings.max_response_bytes,
            interrupt,
            pace: settings.pace.clone(),
            meter: Meter::default(),
            totals: Arc::default(),
        })
    }

    /// Another transport to the same server, for a concurrent stream: it shares the agent's
    /// configuration and connection pool, has counters of its own, and stops on `interrupt`.
    pub fn fork(&self, interrupt: Option<Interrupt>) -> Transport {
        Transport {
            agent: self.agent.clone(),
            base: self.base.clone(),
            shown_url: self.shown_url.clone(),
            secret: self.secret.clone(),
            limit: self.limit,
            interrupt,
            pace: self.pace.clone(),
            meter: Meter::default(),
            totals: self.totals.clone(),
        }
    }

    /// What this transport and its forks did so far.
    pub fn totals(&self) -> Arc<Totals> {
        self.totals.clone()
    }

    pub fn requests_sent(&self) -> u64 {
        self.meter.requests.get()
    }

    pub fn bytes_received(&self) -> u64 {
        self.meter.bytes_in.get()
    }

    pub fn last_answer_bytes(&self) -> u64 {
        self.meter.last_bytes.get()
    }

    /// Answers of 429 or 503 waited for, and the time spent waiting for them and for the budget.
    pub fn waits(&self) -> (u64, Duration) {
        (self.meter.waits.get(), self.meter.waited.get())
    }

    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.meter.server_time.get()
    }

    /// Remove the secret from any text that came back from the server or the network stack.
    pub fn scrub(&self, text: &str) -> String {
        let s = &self.secret;
        if s.len() >= 3 {
            text.replace(s.as_str(), "********")
        } else {
            text.to_owned()
        }
    }

    pub fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(|f| f())
    }

    /// `POST <url><path>` with a JSON body and extra headers (never shown in any message).
    pub fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Result<Answer, OdooError> {
        let payload = body.to_string().into_bytes();
        self.exchange(|| {
            let mut req = self.agent.post(format!("{}{path}", self.base)).header("Content-Type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(&payload[..])
        })
    }

    pub fn get(&self, path: &str) -> Result<Answer, OdooError> {
        self.exchange(|| self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// One request, within the budget, sent again after the wait a 429 or 503 asks for.
    fn exchange(&self, send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, OdooError> {
        let mut attempt = 0;
        loop {
            if let Some(pace) = &self.pace {
                self.wait(pace())?;
            }
            if self.interrupted() {
                return Err(OdooError::Interrupted);
            }
            self.meter.requests.set(self.meter.requests.get() + 1);
            self.totals.requests.fetch_add(1, Ordering::Relaxed);
            let (answer, told) = self.receive(send())?;
            if !matches!(answer.status, 429 | 503) {
                return Ok(answer);
            }
            let wait = retry_after(told.as_deref(), attempt, chrono::Utc::now());
            if attempt >= MAX_WAITS || wait > LONGEST_WAIT {
                let retry_after = told.is_some().then_some(wait);
                return Err(OdooError::RateLimited { url: self.shown_url.clone(), status: answer.status, retry_after });
            }
            attempt += 1;
            self.meter.waits.set(self.meter.waits.get() + 1);
            self.totals.waits.fetch_add(1, Ordering::Relaxed);
            self.wait(wait)?;
        }
    }

    /// Sleep, stopping as soon as the call is interrupted (not counted as a wait Odoo asked for).
    pub fn pause(&self, d: Duration) -> Result<(), OdooError> {
        let until = Instant::now() + d;
        while let Some(left) = until.checked_duration_since(Instant::now()).filter(|l| !l.is_zero()) {
            if self.interrupted() {
                return Err(OdooError::Interrupted);
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        Ok(())
    }

    /// Sleep as Odoo or the budget asks, stopping as soon as the call is interrupted.
    fn wait(&self, d: Duration) -> Result<(), OdooError> {
        if d.is_zero() {
            return Ok(());
        }
        self.pause(d)?;
        self.meter.waited.set(self.meter.waited.get() + d);
        Ok(())
    }

    /// The whole answer, and its `Retry-After` header.
    fn receive(&self, sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<(Answer, Option<String>), OdooError> {
        let resp = sent.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let told = header("retry-after");
        if let Some(d) = header("date").and_then(|v| chrono::DateTime::parse_from_rfc2822(&v).ok()) {
            self.meter.server_time.set(Some(d.with_timezone(&chrono::Utc)));
        }
        let content_type = header("content-type").unwrap_or_default().to_ascii_lowercase();
        let mut reader = resp.into_body().into_with_config().limit(self.limit).reader();
        let mut body = Vec::with_capacity(CHUNK);
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if self.interrupted() {
                return Err(OdooError::Interrupted);
            }
            let n = reader.read(&mut chunk).map_err(|e| match e.into_inner() {
                Some(inner) => match inner.downcast::<ureq::Error>() {
                    Ok(ue) => self.transport_error(*ue),
                    Err(other) => OdooError::Cut { url: self.shown_url.clone(), detail: self.scrub(&other.to_string()) },
                },
                None => OdooError::Cut { url: self.shown_url.clone(), detail: "connection closed while reading the answer".into() },
            })?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        self.meter.bytes_in.set(self.meter.bytes_in.get() + body.len() as u64);
        self.meter.last_bytes.set(body.len() as u64);
        Ok((Answer { status, content_type, body }, told))
    }

    /// What went wrong, by when: before the request reached Odoo (unreachable: `Connect`), or
    /// while Odoo was serving it (`Timeout`, `Cut`, `TooLarge`: a smaller request may pass).
    fn transport_error(&self, e: ureq::Error) -> OdooError {
        use std::io::ErrorKind;
        use ureq::Timeout as T;
        let url = self.shown_url.clone();
        match e {
            ureq::Error::Timeout(t @ (T::RecvResponse | T::RecvBody | T::Global | T::PerCall)) => OdooError::Timeout { url, phase: format!("{t:?}") },
            ureq::Error::Timeout(t) => OdooError::Connect { url, detail: format!("timed out ({t:?})") },
            ureq::Error::BodyExceedsLimit(limit) => OdooError::TooLarge { limit },
            ureq::Error::Io(io) if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                OdooError::Timeout { url, phase: "reading the answer".into() }
            }
            ureq::Error::Io(io) if io.kind() == ErrorKind::Interrupted && self.interrupted() => OdooError::Interrupted,
            ureq::Error::Io(io)
                if matches!(io.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe) =>
            {
                OdooError::Cut { url, detail: self.scrub(&io.to_string()) }
            }
            ureq::Error::Protocol(p) => OdooError::Cut { url, detail: self.scrub(&p.to_string()) },
            other => OdooError::Connect { url, detail: self.scrub(&other.to_string()) },
        }
    }

    /// A body that is not what was expected, described for a message without quoting it raw:
    /// the title of an HTML page, the first line of a short text.
    pub fn describe(&self, a: &Answer) -> String {
        if a.body.is_empty() {
            return "an empty body".into();
        }
        let text = String::from_utf8_lossy(&a.body[..a.body.len().min(4096)]);
        let kind = a.content_type.split(';').next().unwrap_or("").trim();
        let kind = if kind.is_empty() { "no content type" } else { kind };
        let first_line = || text.lines().map(|l| strip_tags(l).trim().to_owned()).find(|l| !l.is_empty());
        let summary = if kind == "text/html" { tag_text(&text, "title").or_else(|| tag_text(&text, "h1")).or_else(first_line) } else { first_line() };
        let summary: String = summary.unwrap_or_default().chars().take(120).collect();
        let size = a.body.len();
        if summary.is_empty() {
            format!("a {kind} body of {size} bytes")
        } else {
            format!("a {kind} body of {size} bytes: {:?}", self.scrub(&summary))
        }
    }
}

fn strip_tags(line: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in line.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The text inside the first `<tag>...</tag>`, case-insensitively, trimmed.
fn tag_text(html: &str, tag: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find(&format!("<{tag}"))?;
    let open_end = start + lower[start..].find('>')? + 1;
    let end = open_end + lower[open_end..].find(&format!("</{tag}"))?;
    Some(html[open_end..end].trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_as_a_date_or_by_attempt() {
        let now = chrono::DateTime::parse_from_rfc2822("Sun, 29 Nov 2026 03:12:19 GMT").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(retry_after(Some("7"), 0, now), Duration::from_secs(7));
        assert_eq!(retry_after(Some(" 0 "), 3, now), Duration::ZERO);
        assert_eq!(retry_after(Some("Sun, 29 Nov 2026 03:12:49 GMT"), 0, now), Duration::from_secs(30));
        assert_eq!(retry_after(Some("Sun, 29 Nov 2026 03:00:00 GMT"), 0, now), Duration::ZERO, "a date in the past: at once");
        assert_eq!(retry_after(None, 0, now), Duration::from_secs(1));
        assert_eq!(retry_after(Some("soon"), 3, now), Duration::from_secs(8), "unreadable: as if absent");
    }

    #[test]
    fn titles_of_html_pages() {
        assert_eq!(tag_text("<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>", "title").as_deref(), Some("404 Not Found"));
        assert_eq!(tag_text("<HTML><H1 class=x> Bad Gateway </H1></HTML>", "h1").as_deref(), Some("Bad Gateway"));
        assert_eq!(tag_text("<p>nothing</p>", "title"), None);
    }
}
