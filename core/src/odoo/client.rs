//! Transport and login.
use std::cell::Cell;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::error::OdooError;
use super::methods::ReadMethod;
use super::rpc::{self, Envelope};

/// Asked between chunks of an answer: `true` stops the call with [`OdooError::Interrupted`].
/// The extension plugs Postgres' interrupt flags in here; the client itself knows nothing of them.
pub type Interrupt = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone)]
pub struct Settings {
    /// Base URL, e.g. `https://erp.example.com` (`/jsonrpc` is appended).
    pub url: String,
    pub database: String,
    pub login: String,
    /// Password or API key. Never printed: `Settings` has a redacting `Debug`.
    pub secret: String,
    pub connect_timeout: Duration,
    /// Longest wait for the answer's headers, then for each read of its body.
    pub read_timeout: Duration,
    pub max_response_bytes: u64,
    /// Extra trusted CA certificates (PEM), added to the bundled web PKI roots.
    pub ca_bundle_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &display_url(&self.url))
            .field("database", &self.database)
            .field("login", &self.login)
            .field("secret", &"********")
            .finish_non_exhaustive()
    }
}

/// The URL as it may appear in messages: without any `user:password@` part.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
            let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Whether the URL's host is a loopback address (plain HTTP there is not worth a warning).
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = if host.starts_with('[') { host.split(']').next().unwrap_or("").trim_start_matches('[') } else { host.split(':').next().unwrap_or("") };
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

pub struct Client {
    agent: ureq::Agent,
    endpoint: String,
    url: String,
    settings: Settings,
    uid: Option<i64>,
    next_id: Cell<u64>,
    interrupt: Option<Interrupt>,
    /// Requests sent and answer bytes received, for the run log and benchmarks.
    requests: Cell<u64>,
    bytes_in: Cell<u64>,
    /// Odoo's clock: the `Date` header of the last answer (second precision), when it sends one.
    server_time: Cell<Option<chrono::DateTime<chrono::Utc>>>,
}

const CHUNK: usize = 64 * 1024;

impl Client {
    pub fn new(settings: Settings, interrupt: Option<Interrupt>) -> Result<Client, OdooError> {
        let url = settings.url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(OdooError::Settings(format!("the URL must start with http:// or https:// (got {})", display_url(&url))));
        }
        if settings.database.is_empty() || settings.login.is_empty() {
            return Err(OdooError::Settings("database and login must not be empty".into()));
        }
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
            .user_agent("scrap_sga")
            .tls_config(tls.build())
            .build();
        Ok(Client {
            agent: config.new_agent(),
            endpoint: format!("{url}/jsonrpc"),
            url: display_url(&url),
            settings,
            uid: None,
            next_id: Cell::new(1),
            interrupt,
            requests: Cell::new(0),
            bytes_in: Cell::new(0),
            server_time: Cell::new(None),
        })
    }

    pub fn requests_sent(&self) -> u64 {
        self.requests.get()
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes_in.get()
    }

    /// Odoo's time when it sent its last answer (from the HTTP `Date` header), if it said.
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.server_time.get()
    }

    pub fn uid(&self) -> Option<i64> {
        self.uid
    }

    /// Remove the secret from any text that came back from the server or the network stack.
    fn scrub(&self, text: &str) -> String {
        let s = &self.settings.secret;
        if s.len() >= 3 {
            text.replace(s.as_str(), "********")
        } else {
            text.to_owned()
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(|f| f())
    }

    fn transport_error(&self, e: ureq::Error) -> OdooError {
        let url = self.url.clone();
        match e {
            ureq::Error::Timeout(t) => OdooError::Timeout { url, phase: format!("{t:?}") },
            ureq::Error::BodyExceedsLimit(limit) => OdooError::TooLarge { limit },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut || io.kind() == std::io::ErrorKind::WouldBlock => {
                OdooError::Timeout { url, phase: "reading the answer".into() }
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::Interrupted && self.interrupted() => OdooError::Interrupted,
            other => OdooError::Connect { url, detail: self.scrub(&other.to_string()) },
        }
    }

    /// One POST; returns the raw body of a 200 answer.
    fn post(&self, body: &Value) -> Result<Vec<u8>, OdooError> {
        if self.interrupted() {
            return Err(OdooError::Interrupted);
        }
        self.requests.set(self.requests.get() + 1);
        let payload = serde_json::to_vec(body).expect("a serde_json::Value always serializes");
        let resp = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .send(&payload[..])
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let date = resp.headers().get("date").and_then(|v| v.to_str().ok()).and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
        if let Some(d) = date {
            self.server_time.set(Some(d.with_timezone(&chrono::Utc)));
        }
        let limit = self.settings.max_response_bytes;
        let mut reader = resp.into_body().into_with_config().limit(limit).reader();
        let mut buf = Vec::with_capacity(CHUNK);
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if self.interrupted() {
                return Err(OdooError::Interrupted);
            }
            let n = reader.read(&mut chunk).map_err(|e| match e.into_inner() {
                Some(inner) => match inner.downcast::<ureq::Error>() {
                    Ok(ue) => self.transport_error(*ue),
                    Err(other) => OdooError::Connect { url: self.url.clone(), detail: self.scrub(&other.to_string()) },
                },
                None => OdooError::Connect { url: self.url.clone(), detail: "connection closed while reading the answer".into() },
            })?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        self.bytes_in.set(self.bytes_in.get() + buf.len() as u64);
        if status != 200 {
            let text = String::from_utf8_lossy(&buf[..buf.len().min(200)]).trim().to_owned();
            return Err(OdooError::Http { url: self.url.clone(), status, excerpt: self.scrub(&text) });
        }
        Ok(buf)
    }

    fn call<T: DeserializeOwned>(&self, body: Value) -> Result<Option<T>, OdooError> {
        let raw = self.post(&body)?;
        let env: Envelope<T> = serde_json::from_slice(&raw).map_err(|e| OdooError::Malformed {
            url: self.url.clone(),
            detail: format!("{e} (first bytes: {:?})", self.scrub(&String::from_utf8_lossy(&raw[..raw.len().min(60)]))),
        })?;
        if let Some(err) = env.error {
            let (name, message) = err.name_and_message();
            return Err(OdooError::Server { name: self.scrub(&name), message: self.scrub(&message) });
        }
        Ok(env.result)
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// `common.version`: no login needed. Returns e.g. `"18.0+e-20241005"`.
    pub fn version(&self) -> Result<String, OdooError> {
        let v: Option<Value> = self.call(rpc::call_body(self.next_id(), "common", "version", json!([])))?;
        Ok(v.as_ref().and_then(|v| v.get("server_version")).and_then(Value::as_str).unwrap_or("unknown").to_owned())
    }

    /// `common.authenticate`. Odoo answers `false` (not an error) to a wrong login.
    pub fn authenticate(&mut self) -> Result<i64, OdooError> {
        let s = &self.settings;
        let body = rpc::call_body(self.next_id(), "common", "authenticate", json!([s.database, s.login, s.secret, {}]));
        let v: Option<Value> = self.call(body)?;
        match v.as_ref().and_then(Value::as_i64) {
            Some(uid) => {
                self.uid = Some(uid);
                Ok(uid)
            }
            None => Err(OdooError::LoginFailed { database: s.database.clone(), login: s.login.clone() }),
        }
    }

    /// The only path to a model method. `method` is a [`ReadMethod`], so nothing that writes can
    /// be sent.
    pub fn execute_kw<T: DeserializeOwned>(&self, model: &str, method: ReadMethod, args: Value, kwargs: Value) -> Result<T, OdooError> {
        let uid = self.uid.ok_or_else(|| OdooError::Settings("execute_kw before authenticate".into()))?;
        let s = &self.settings;
        let body = rpc::execute_kw_body(self.next_id(), &s.database, uid, &s.secret, model, method, args, kwargs);
        let v: Option<T> = self.call(body)?;
        v.ok_or_else(|| OdooError::Malformed { url: self.url.clone(), detail: format!("no result for {model}.{}", method.as_str()) })
    }

    pub fn fields_get(&self, model: &str) -> Result<Map<String, Value>, OdooError> {
        self.execute_kw(
            model,
            ReadMethod::FieldsGet,
            json!([]),
            json!({"attributes": ["type", "string", "relation", "store", "required", "readonly"]}),
        )
    }

    /// `search_read` with archived records included.
    pub fn search_read(&self, model: &str, domain: &Value, fields: &[String], order: &str, limit: usize) -> Result<Vec<Map<String, Value>>, OdooError> {
        self.execute_kw(
            model,
            ReadMethod::SearchRead,
            json!([domain]),
            json!({"fields": fields, "order": order, "limit": limit, "context": {"active_test": false}}),
        )
    }

    /// Ids only, archived records included.
    pub fn search_ids(&self, model: &str, domain: &Value, order: &str, limit: Option<usize>) -> Result<Vec<i64>, OdooError> {
        let mut kw = json!({"order": order, "context": {"active_test": false}});
        if let Some(l) = limit {
            kw["limit"] = json!(l);
        }
        self.execute_kw(model, ReadMethod::Search, json!([domain]), kw)
    }

    pub fn search_count(&self, model: &str, domain: &Value) -> Result<i64, OdooError> {
        self.execute_kw(model, ReadMethod::SearchCount, json!([domain]), json!({"context": {"active_test": false}}))
    }

    /// `read` silently leaves out ids that do not exist.
    pub fn read(&self, model: &str, ids: &[i64], fields: &[String]) -> Result<Vec<Map<String, Value>>, OdooError> {
        self.execute_kw(model, ReadMethod::Read, json!([ids]), json!({"fields": fields, "context": {"active_test": false}}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A one-thread HTTP server that records every request body and answers from a script.
    fn serve(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    tx.send(String::from_utf8(body).unwrap()).unwrap();
                    let Some((status, text)) = answers.next() else { return };
                    write!(stream, "HTTP/1.1 {status} X\r\nDate: Wed, 25 Nov 2026 07:43:43 GMT\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}", text.len()).unwrap();
                }
            }
        });
        (url, rx)
    }

    fn settings(url: &str) -> Settings {
        Settings {
            url: url.into(),
            database: "dimagaz".into(),
            login: "admin".into(),
            secret: "s3cr3t-key".into(),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            max_response_bytes: 1 << 20,
            ca_bundle_pem: None,
        }
    }

    fn ok(result: Value) -> (u16, String) {
        (200, json!({"jsonrpc": "2.0", "id": 1, "result": result}).to_string())
    }

    #[test]
    fn every_public_call_sends_only_allowlisted_methods() {
        let (url, rx) = serve(vec![
            ok(json!({"server_version": "18.0"})),
            ok(json!(2)),
            ok(json!({"id": {"type": "integer"}})),
            ok(json!([])),
            ok(json!([1])),
            ok(json!(1)),
            ok(json!([])),
        ]);
        let mut c = Client::new(settings(&url), None).unwrap();
        assert_eq!(c.version().unwrap(), "18.0");
        assert_eq!(c.authenticate().unwrap(), 2);
        c.fields_get("dimagaz.bc").unwrap();
        c.search_read("dimagaz.bc", &json!([]), &["id".into()], "id asc", 10).unwrap();
        c.search_ids("dimagaz.bc", &json!([]), "id asc", None).unwrap();
        c.search_count("dimagaz.bc", &json!([])).unwrap();
        c.read("dimagaz.bc", &[1], &["id".into()]).unwrap();
        let bodies: Vec<Value> = rx.try_iter().map(|b| serde_json::from_str(&b).unwrap()).collect();
        assert_eq!(bodies.len(), 7);
        let allowed: Vec<&str> = ReadMethod::ALL.iter().map(|m| m.as_str()).collect();
        for b in &bodies {
            let params = &b["params"];
            match params["service"].as_str().unwrap() {
                "common" => assert!(["version", "authenticate"].contains(&params["method"].as_str().unwrap())),
                "object" => {
                    assert_eq!(params["method"], "execute_kw");
                    let m = params["args"][4].as_str().unwrap();
                    assert!(allowed.contains(&m), "{m} reached the wire");
                }
                other => panic!("unexpected service {other}"),
            }
        }
        assert_eq!(bodies[3]["params"]["args"][6]["context"]["active_test"], json!(false));
        assert_eq!(c.server_time().map(|t| t.to_rfc3339()), Some("2026-11-25T07:43:43+00:00".into()), "Odoo's clock from the Date header");
        assert_eq!(c.requests_sent(), 7);
    }

    #[test]
    fn a_failed_login_is_reported_as_such() {
        let (url, _rx) = serve(vec![ok(json!(false))]);
        let mut c = Client::new(settings(&url), None).unwrap();
        let e = c.authenticate().unwrap_err();
        assert!(e.is_auth_failure());
        assert_eq!(e.to_string(), "Odoo refused the login of user \"admin\" on database \"dimagaz\" (wrong login or secret)");
    }

    #[test]
    fn odoo_errors_keep_name_and_message_and_never_the_secret() {
        let wire: Value = serde_json::from_str(include_str!("../../../../shared/odoo-wire/12_error_wrong_password_execute_kw.json")).unwrap();
        let mut answer = wire["response"].clone();
        answer["error"]["data"]["message"] = json!("Access Denied for s3cr3t-key");
        let (url, _rx) = serve(vec![ok(json!(2)), (200, answer.to_string())]);
        let mut c = Client::new(settings(&url), None).unwrap();
        c.authenticate().unwrap();
        let e = c.search_count("res.partner", &json!([])).unwrap_err();
        assert!(e.is_auth_failure());
        let text = e.to_string();
        assert_eq!(text, "Odoo raised odoo.exceptions.AccessDenied: Access Denied for ********");
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }

    #[test]
    fn unknown_model_error_from_the_real_wire() {
        let wire: Value = serde_json::from_str(include_str!("../../../../shared/odoo-wire/11_error_unknown_model.json")).unwrap();
        let (url, _rx) = serve(vec![ok(json!(2)), (200, wire["response"].to_string())]);
        let mut c = Client::new(settings(&url), None).unwrap();
        c.authenticate().unwrap();
        let e = c.fields_get("no.such.model").unwrap_err();
        assert_eq!(e, OdooError::Server { name: "odoo.exceptions.UserError".into(), message: "Object no.such.model doesn't exist".into() });
    }

    #[test]
    fn http_and_malformed_answers() {
        let (url, _rx) = serve(vec![(400, "Invalid JSON data".into()), (500, "boom".into()), (200, "{\"jsonrpc\": ".into())]);
        let c = Client::new(settings(&url), None).unwrap();
        let e = c.version().unwrap_err();
        assert!(matches!(e, OdooError::Http { status: 400, ref excerpt, .. } if excerpt == "Invalid JSON data"), "{e:?}");
        let e = c.version().unwrap_err();
        assert!(e.is_transient(), "{e:?}");
        let e = c.version().unwrap_err();
        assert!(matches!(e, OdooError::Malformed { .. }), "{e:?}");
    }

    #[test]
    fn a_refused_connection_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = Client::new(settings(&format!("http://user:pw@127.0.0.1:{port}")), None).unwrap();
        let e = c.version().unwrap_err();
        assert!(matches!(e, OdooError::Connect { .. }), "{e:?}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let _held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(5));
        });
        let mut s = settings(&url);
        s.read_timeout = Duration::from_millis(300);
        let c = Client::new(s, None).unwrap();
        let t = std::time::Instant::now();
        let e = c.version().unwrap_err();
        assert!(matches!(e, OdooError::Timeout { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn interrupt_is_checked_before_sending() {
        let c = Client::new(settings("http://127.0.0.1:9"), Some(Arc::new(|| true))).unwrap();
        assert_eq!(c.version().unwrap_err(), OdooError::Interrupted);
        assert_eq!(c.requests_sent(), 0);
    }

    #[test]
    fn settings_debug_and_urls_hide_credentials() {
        let s = settings("https://bob:hunter2@erp.example.com/odoo");
        let d = format!("{s:?}");
        assert!(!d.contains("s3cr3t") && !d.contains("hunter2"), "{d}");
        assert_eq!(display_url(&s.url), "https://erp.example.com/odoo");
        assert!(is_loopback("http://127.0.0.1:8069"));
        assert!(is_loopback("http://localhost"));
        assert!(is_loopback("http://[::1]:80/"));
        assert!(!is_loopback("http://erp.example.com"));
        assert!(Client::new(settings("ftp://x"), None).is_err());
    }
}
