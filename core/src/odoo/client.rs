//! The client: choosing the protocol, login, and the read calls.
use std::cell::Cell;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::call::ReadCall;
use super::error::OdooError;
use super::methods::ReadMethod;
use super::settings::{display_url, Interrupt, Settings};
use super::transport::{Answer, Transport};
use super::fingerprint::{self, Fingerprint};
use super::version::{Protocol, ProtocolChoice, ServerVersion};
use super::{json2, jsonrpc};
use super::page::RawPage;
use crate::ids::OdooId;

/// What [`Client::open`] found out about a server: the protocol, the version it reported, and
/// for JSON-RPC the user id of the login. Kept by the caller, it lets the next client start
/// at once ([`Client::open_as`]), without asking again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub protocol: Protocol,
    pub version: Option<String>,
    pub uid: Option<i64>,
    /// What the server answers fingerprints with, once tried.
    pub fingerprints: fingerprint::Support,
}

/// The pause before a call that failed on the way is sent again (times the try).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub struct Client {
    transport: Transport,
    settings: Settings,
    protocol: Option<Protocol>,
    version: Option<String>,
    uid: Option<i64>,
    next_id: Cell<u64>,
    fingerprints: Cell<fingerprint::Support>,
}

impl Client {
    pub fn new(settings: Settings, interrupt: Option<Interrupt>) -> Result<Client, OdooError> {
        let url = settings.url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(OdooError::Settings(format!("the URL must start with http:// or https:// (got {})", display_url(url))));
        }
        if settings.database.is_empty() {
            return Err(OdooError::Settings("the database must not be empty".into()));
        }
        Ok(Client {
            transport: Transport::new(&settings, interrupt)?,
            settings,
            protocol: None,
            version: None,
            uid: None,
            next_id: Cell::new(1),
            fingerprints: Cell::new(fingerprint::Support::Unknown),
        })
    }

    /// A client for a concurrent stream of calls: the same server, protocol and login (no new
    /// request is sent), with counters of its own, stopping on `interrupt`. A client is used by
    /// one thread at a time; each stream gets its own.
    pub fn fork(&self, interrupt: Option<Interrupt>) -> Result<Client, OdooError> {
        if self.protocol.is_none() {
            return Err(OdooError::Settings("a client is forked once it is open".into()));
        }
        Ok(Client {
            transport: self.transport.fork(interrupt),
            settings: self.settings.clone(),
            protocol: self.protocol,
            version: self.version.clone(),
            uid: self.uid,
            next_id: Cell::new(1),
            fingerprints: Cell::new(self.fingerprints.get()),
        })
    }

    pub fn requests_sent(&self) -> u64 {
        self.transport.requests_sent()
    }

    /// What this client and the clients forked from it did so far, readable from any thread.
    pub fn totals(&self) -> std::sync::Arc<super::transport::Totals> {
        self.transport.totals()
    }

    /// The body size of the last answer.
    pub fn last_answer_bytes(&self) -> u64 {
        self.transport.last_answer_bytes()
    }

    /// Answers of 429 or 503 waited for, and the time spent waiting for them and for the budget.
    pub fn waits(&self) -> (u64, Duration) {
        self.transport.waits()
    }

    /// Odoo's time when it sent its last answer (from the HTTP `Date` header), if it said.
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.transport.server_time()
    }

    /// The protocol in use, once [`Client::open`] has chosen it.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// The server's version as it reported it, when it did.
    pub fn server_version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// What [`Client::open`] found out, once the client is open.
    pub fn detected(&self) -> Option<Detected> {
        Some(Detected { protocol: self.protocol?, version: self.version.clone(), uid: self.uid, fingerprints: self.fingerprints.get() })
    }

    /// Get ready to call with what an earlier [`Client::open`] found out, sending nothing.
    /// Refused when it does not fit the settings (a fixed protocol other than the one found).
    pub fn open_as(&mut self, d: &Detected) -> Result<(), OdooError> {
        let fits = match self.settings.protocol {
            ProtocolChoice::Auto => true,
            ProtocolChoice::Fixed(p) => p == d.protocol,
        } && (d.protocol == Protocol::Json2 || d.uid.is_some());
        if !fits {
            return Err(OdooError::Settings("what was found out about this server does not fit the connection's settings".into()));
        }
        self.protocol = Some(d.protocol);
        self.version = d.version.clone();
        self.uid = d.uid;
        self.fingerprints.set(d.fingerprints);
        Ok(())
    }

    /// Get ready to call: choose the protocol (asking the server its version for `auto`), and
    /// log in when that is JSON-RPC. JSON-2 has no login: the API key names the user.
    /// An answer that went wrong on the way from a server that is up (cut short, garbled, or
    /// Odoo's own error page, HTTP 500) is tried twice more, as `call` does: otherwise it fails
    /// every model's run until the next one. A proxy's 502 or 504 (Odoo behind it is down) and
    /// a server that does not answer in time are not asked again: more tries only add waiting.
    pub fn open(&mut self) -> Result<(), OdooError> {
        let mut tries = 0;
        loop {
            match self.open_once() {
                Err(e) if matches!(e, OdooError::Cut { .. } | OdooError::Malformed { .. } | OdooError::Http { status: 500, .. }) && tries < 2 => {
                    tries += 1;
                    self.transport.pause(RETRY_PAUSE * tries)?;
                }
                r => return r,
            }
        }
    }

    fn open_once(&mut self) -> Result<(), OdooError> {
        let protocol = match self.settings.protocol {
            ProtocolChoice::Auto => {
                let (v, via_json_route) = self.detect()?;
                self.version = Some(v.text.clone());
                if v.has_json2(via_json_route) { Protocol::Json2 } else { Protocol::JsonRpc }
            }
            ProtocolChoice::Fixed(p) => {
                // Only for the run log: a server that will not say is still served.
                self.version = match p {
                    Protocol::Json2 => self.version_over_http("/json/version"),
                    Protocol::JsonRpc => self.version_over_jsonrpc(),
                }
                .ok()
                .and_then(Result::ok)
                .map(|v| v.text);
                p
            }
        };
        self.protocol = Some(protocol);
        if protocol == Protocol::JsonRpc {
            if self.settings.login.is_empty() {
                return Err(OdooError::Settings(format!(
                    "this Odoo ({}) is spoken to over JSON-RPC, which needs a login: give one to scrap_sga.set_connection()",
                    self.version.as_deref().unwrap_or("version unknown")
                )));
            }
            self.authenticate()?;
        }
        Ok(())
    }

    /// The server's version, from the first of `GET /json/version`, `GET /web/version` and
    /// JSON-RPC `common.version` that answers (Odoo 20 has no JSON-RPC; 16 to 18 have no
    /// `/json/version`). Also says whether `/json/version` was the one.
    fn detect(&self) -> Result<(ServerVersion, bool), OdooError> {
        let mut tried = Vec::new();
        for path in ["/json/version", "/web/version"] {
            match self.version_over_http(path)? {
                Ok(v) => return Ok((v, path == "/json/version")),
                Err(why) => tried.push(format!("GET {path} ({why})")),
            }
        }
        match self.version_over_jsonrpc() {
            Ok(Ok(v)) => Ok((v, false)),
            Ok(Err(why)) => {
                tried.push(format!("POST {} common.version ({why})", jsonrpc::PATH));
                Err(OdooError::NoProtocol { url: self.transport.shown_url.clone(), tried: tried.join(", ") })
            }
            // Unreachable, too slow, cut off, a server error, or told to stop: that, not
            // "answered neither", is the news (and `open` tries a cut or a 500 again).
            Err(
                e @ (OdooError::Connect { .. }
                | OdooError::Timeout { .. }
                | OdooError::Interrupted
                | OdooError::TooLarge { .. }
                | OdooError::Cut { .. }
                | OdooError::Http { .. }),
            ) => Err(e),
            Err(e) => {
                tried.push(format!("POST {} common.version ({e})", jsonrpc::PATH));
                Err(OdooError::NoProtocol { url: self.transport.shown_url.clone(), tried: tried.join(", ") })
            }
        }
    }

    /// `Ok(Err(why))` when the route is not there (a 404, an HTML page). Network errors end the
    /// detection: three tries of a dead server would only triple the wait.
    fn version_over_http(&self, path: &str) -> Result<Result<ServerVersion, String>, OdooError> {
        let a = self.transport.get(path)?;
        // A server error (a proxy in front of a dead Odoo) is that, not a missing route.
        if a.status >= 500 {
            return Err(OdooError::Http { url: self.transport.shown_url.clone(), status: a.status, what: self.transport.describe(&a) });
        }
        if a.status != 200 || !a.is_json() {
            return Ok(Err(format!("HTTP {} with {}", a.status, self.transport.describe(&a))));
        }
        let v = serde_json::from_slice::<Value>(&a.body).ok();
        Ok(v.as_ref().and_then(ServerVersion::from_answer).ok_or_else(|| "an answer without version_info".to_owned()))
    }

    fn version_over_jsonrpc(&self) -> Result<Result<ServerVersion, String>, OdooError> {
        let a = self.transport.post_json(jsonrpc::PATH, &jsonrpc::call_body(self.next_id(), "common", "version", json!([])), &[])?;
        // As for the version routes: a server error is that, not a missing route.
        if a.status >= 500 {
            return Err(OdooError::Http { url: self.transport.shown_url.clone(), status: a.status, what: self.transport.describe(&a) });
        }
        if a.status != 200 {
            return Ok(Err(format!("HTTP {} with {}", a.status, self.transport.describe(&a))));
        }
        let v = self.decode_jsonrpc::<Value>(&a, None)?;
        Ok(v.as_ref().and_then(ServerVersion::from_answer).ok_or_else(|| "an answer without server_version_info".to_owned()))
    }

    /// `common.authenticate`. Odoo answers `false` (not an error) to a wrong login.
    fn authenticate(&mut self) -> Result<i64, OdooError> {
        let s = &self.settings;
        let body = jsonrpc::call_body(self.next_id(), "common", "authenticate", json!([s.database, s.login, s.secret, {}]));
        let a = self.transport.post_json(jsonrpc::PATH, &body, &[])?;
        let v: Option<Value> = self.jsonrpc_answer(&a, None)?;
        match v.as_ref().and_then(Value::as_i64) {
            Some(uid) => {
                self.uid = Some(uid);
                Ok(uid)
            }
            None => Err(OdooError::LoginFailed { database: s.database.clone(), login: s.login.clone() }),
        }
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// The only path to a model method, under either protocol. The method is a
    /// [`ReadMethod`], so nothing that writes can be sent.
    /// A call that failed on the way (a proxy's error page, a cut or garbled answer, no answer
    /// in time) is sent again after a pause: reads can be repeated, and a glitch of the network
    /// should not cost a failed run. What still fails is the caller's to decide on.
    pub fn call<T: DeserializeOwned>(&self, call: &ReadCall) -> Result<T, OdooError> {
        // Model names go into JSON-2 URL paths: nothing that could add a path segment or a query.
        if let Err(why) = crate::ident::valid_model_name(&call.model) {
            return Err(OdooError::Settings(format!("{:?} is not an Odoo model name: {why}", call.model)));
        }
        let mut tries = 0;
        loop {
            match self.call_once(call) {
                // Twice more, a second and then two apart; a timeout only once more, since each
                // costs read_timeout. A batch too heavy is not sent again as it is: its caller
                // asks for fewer records instead.
                Err(e) if (e.is_glitch() || matches!(e, OdooError::TooLarge { .. }) && call.answers_small())
                    && !(e.is_too_heavy() && call.is_batch())
                    && tries < if matches!(e, OdooError::Timeout { .. }) { 1 } else { 2 } =>
                {
                    tries += 1;
                    self.transport.pause(RETRY_PAUSE * tries)?;
                }
                r => return r,
            }
        }
    }

    fn call_once<T: DeserializeOwned>(&self, call: &ReadCall) -> Result<T, OdooError> {
        match self.protocol {
            Some(Protocol::Json2) => self.call_json2(call),
            Some(Protocol::JsonRpc) => {
                let uid = self.uid.ok_or_else(|| OdooError::Settings("a JSON-RPC call before the login".into()))?;
                let s = &self.settings;
                let body = jsonrpc::execute_kw_body(self.next_id(), &s.database, uid, &s.secret, call);
                let a = self.transport.post_json(jsonrpc::PATH, &body, &[])?;
                self.jsonrpc_answer::<T>(&a, Some(call))?
                    .ok_or_else(|| OdooError::Malformed { url: self.transport.shown_url.clone(), what: format!("no result for {}", call.name()) })
            }
            None => Err(OdooError::Settings("a call before Client::open".into())),
        }
    }

    fn call_json2<T: DeserializeOwned>(&self, call: &ReadCall) -> Result<T, OdooError> {
        let auth = format!("bearer {}", self.settings.secret);
        let headers = [("Authorization", auth.as_str()), ("X-Odoo-Database", self.settings.database.as_str())];
        let a = self.transport.post_json(&json2::path(call), &json2::body(call), &headers)?;
        if a.status == 200 {
            return self.decode(&a);
        }
        let url = self.transport.shown_url.clone();
        let exception = json2::error_body(&a.content_type, &a.body);
        let (name, message) = match &exception {
            Some(e) => (self.transport.scrub(&e.name), self.transport.scrub(e.message.trim_end())),
            None => (String::new(), self.transport.describe(&a)),
        };
        // Odoo's exception class and message, when it sent them, else what the body was.
        let detail = if name.is_empty() { message.clone() } else { format!("{name}: {message}") };
        Err(match (a.status, exception.is_some()) {
            (401, _) => OdooError::KeyRejected { database: self.settings.database.clone(), detail },
            (404, false) => OdooError::DatabaseNotFound { url, database: self.settings.database.clone() },
            (404, true) => OdooError::UnknownModel { model: call.model.clone(), name, message },
            (400 | 415 | 422, _) => OdooError::RequestRejected { url, call: call.name(), status: a.status, detail },
            (_, true) => self.server_error(name, message, Some(call)),
            (status, false) => OdooError::Http { url, status, what: message },
        })
    }

    /// A JSON-RPC answer: the envelope's result, or its error.
    fn jsonrpc_answer<T: DeserializeOwned>(&self, a: &Answer, call: Option<&ReadCall>) -> Result<Option<T>, OdooError> {
        match a.status {
            200 => self.decode_jsonrpc(a, call),
            400 => Err(OdooError::RequestRejected {
                url: self.transport.shown_url.clone(),
                call: call.map(ReadCall::name).unwrap_or_else(|| "a login".into()),
                status: 400,
                detail: self.transport.describe(a),
            }),
            status => Err(OdooError::Http { url: self.transport.shown_url.clone(), status, what: self.transport.describe(a) }),
        }
    }

    fn decode_jsonrpc<T: DeserializeOwned>(&self, a: &Answer, call: Option<&ReadCall>) -> Result<Option<T>, OdooError> {
        let env: jsonrpc::Envelope<T> = self.decode(a)?;
        if let Some(err) = env.error {
            let (name, message) = err.name_and_message();
            return Err(self.server_error(self.transport.scrub(&name), self.transport.scrub(&message), call));
        }
        Ok(env.result)
    }

    /// Parse a JSON body. A parser's message says nothing to a DBA, so it is not passed on.
    fn decode<T: DeserializeOwned>(&self, a: &Answer) -> Result<T, OdooError> {
        serde_json::from_slice(&a.body).map_err(|_| {
            // Tell a cut or foreign body from valid JSON of the wrong shape.
            let syntax = serde_json::from_slice::<serde::de::IgnoredAny>(&a.body).err();
            let what = match syntax {
                _ if !a.is_json() => self.transport.describe(a),
                Some(e) if e.is_eof() => format!("the body was cut short after {} bytes", a.body.len()),
                Some(_) => format!("{} bytes that are not JSON", a.body.len()),
                None => format!("{} bytes of JSON of an unexpected shape", a.body.len()),
            };
            OdooError::Malformed { url: self.transport.shown_url.clone(), what }
        })
    }

    /// An exception Odoo raised, under either protocol: those a DBA acts on get their own kind.
    fn server_error(&self, name: String, message: String, call: Option<&ReadCall>) -> OdooError {
        let model = call.map(|c| c.model.clone()).unwrap_or_default();
        match name.as_str() {
            "odoo.exceptions.AccessError" if call.is_some() => OdooError::AccessDenied { model, name, message },
            // JSON-RPC says so with a UserError (JSON-2 with a 404).
            "odoo.exceptions.UserError" if call.is_some() && message == format!("Object {model} doesn't exist") => {
                OdooError::UnknownModel { model, name, message }
            }
            // JSON-RPC with a database name the server does not have.
            _ if message.contains(&format!("database \"{}\" does not exist", self.settings.database)) => {
                OdooError::DatabaseNotFound { url: self.transport.shown_url.clone(), database: self.settings.database.clone() }
            }
            _ => OdooError::Server { name, message },
        }
    }

    pub fn fields_get(&self, model: &str) -> Result<Map<String, Value>, OdooError> {
        let attributes = json!({"attributes": crate::mapping::FIELDS_GET_ATTRIBUTES});
        self.call(&ReadCall::new(model, ReadMethod::FieldsGet, None, attributes))
    }

    /// `search_read` with archived records included.
    pub fn search_read(&self, model: &str, domain: &Value, fields: &[String], order: &str, limit: usize) -> Result<Vec<Map<String, Value>>, OdooError> {
        self.call(&search_read_call(model, domain, fields, order, limit))
    }

    /// [`Client::search_read`], its records left as they came ([`RawPage`]): their ids are
    /// known at once, their parse can wait.
    pub fn search_read_raw(&self, model: &str, domain: &Value, fields: &[String], order: &str, limit: usize) -> Result<RawPage, OdooError> {
        self.call(&search_read_call(model, domain, fields, order, limit))
    }

    /// The server's URL as messages show it.
    pub fn shown_url(&self) -> &str {
        &self.transport.shown_url
    }

    /// Ids only, archived records included. An id that is not one (a value that does not fit an
    /// `integer`) makes the answer malformed: it is never narrowed.
    pub fn search_ids(&self, model: &str, domain: &Value, order: &str, limit: Option<usize>) -> Result<Vec<OdooId>, OdooError> {
        let mut kw = json!({"order": order, "context": {"active_test": false}});
        if let Some(l) = limit {
            kw["limit"] = json!(l);
        }
        let call = ReadCall::new(model, ReadMethod::Search, Some(domain.clone()), kw);
        let ids: Vec<Value> = self.call(&call)?;
        ids.iter()
            .map(|v| OdooId::from_json(v).ok_or_else(|| OdooError::Malformed { url: self.transport.shown_url.clone(), what: format!("{v} in an answer to search: not a record id") }))
            .collect()
    }

    pub fn search_count(&self, model: &str, domain: &Value) -> Result<i64, OdooError> {
        self.call(&ReadCall::new(model, ReadMethod::SearchCount, Some(domain.clone()), json!({"context": {"active_test": false}})))
    }

    /// The fingerprint of the records in `domain` (archived included, the newest write_date when
    /// `newest`), with the method this
    /// server answers (tried once: Odoo 19 and later's first, then the other), or None when it
    /// answers neither (the caller lists instead).
    pub fn fingerprint(&self, model: &str, domain: &Value, newest: bool) -> Result<Option<Fingerprint>, OdooError> {
        use fingerprint::{Method, Support};
        let order = match (self.fingerprints.get(), self.protocol) {
            (Support::None, _) => return Ok(None),
            (Support::With(m), _) => vec![m],
            (Support::Unknown, Some(Protocol::Json2)) => vec![Method::FormattedReadGroup, Method::ReadGroup],
            (Support::Unknown, _) => vec![Method::ReadGroup, Method::FormattedReadGroup],
        };
        for m in order {
            let call = m.call(model, domain, newest);
            match self.call::<Value>(&call) {
                Ok(answer) => {
                    let fp = m.parse(&answer).ok_or_else(|| OdooError::Malformed {
                        url: self.transport.shown_url.clone(),
                        what: format!("an answer to {} without its group", call.name()),
                    })?;
                    self.fingerprints.set(Support::With(m));
                    return Ok(Some(fp));
                }
                Err(e) if e.is_unknown_method() => continue,
                Err(e) => return Err(e),
            }
        }
        self.fingerprints.set(Support::None);
        Ok(None)
    }

    /// `read` silently leaves out ids that do not exist.
    pub fn read(&self, model: &str, ids: &[OdooId], fields: &[String]) -> Result<Vec<Map<String, Value>>, OdooError> {
        self.call(&ReadCall::new(model, ReadMethod::Read, Some(json!(ids)), json!({"fields": fields, "context": {"active_test": false}})))
    }
}

/// A `search_read`, archived records included: what both its answers' shapes ask.
fn search_read_call(model: &str, domain: &Value, fields: &[String], order: &str, limit: usize) -> ReadCall {
    let kw = json!({"fields": fields, "order": order, "limit": limit, "context": {"active_test": false}});
    ReadCall::new(model, ReadMethod::SearchRead, Some(domain.clone()), kw)
}
