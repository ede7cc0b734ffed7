//! The client against a recording HTTP server: what goes on the wire under each protocol, and
//! how each answer real servers send (replayed from `core/fixtures/`) is understood.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde_json::{json, Value};

use super::client::Client;
use super::settings::{display_url, is_loopback, Settings};
use super::error::OdooError;
use super::methods::ReadMethod;
use super::transport::USER_AGENT;
use crate::ids::OdooId;
use super::version::{Protocol, ProtocolChoice};

/// One request as the server saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An answer: status, headers, body bytes.
#[derive(Clone)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn json_answer(status: u16, v: Value) -> Raw {
    Raw { status, headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())], body: v.to_string().into_bytes() }
}

fn rpc_ok(result: Value) -> Raw {
    json_answer(200, json!({"jsonrpc": "2.0", "id": 1, "result": result}))
}

fn not_found_html() -> Raw {
    Raw { status: 404, headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())], body: b"<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>".to_vec() }
}

/// The response part of an Odoo 19 capture (`=== response` up to the pretty-printed copy).
/// Content-Length and Connection are dropped: the server below sets its own.
fn fixture(text: &str) -> Raw {
    let resp = text.split("=== response\n").nth(1).expect("a response section");
    let resp = resp.split("\n=== response body").next().unwrap();
    let (head, body) = resp.split_once("\n\n").expect("headers, blank line, body");
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": ").or_else(|| l.split_once(':')))
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("connection"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Raw { status, headers, body: body.trim_end_matches('\n').as_bytes().to_vec() }
}

/// The response of an Odoo 18 capture (`odoo18/*.json`: JSON-RPC answers with HTTP 200).
fn fixture18(text: &str) -> Raw {
    let v: Value = serde_json::from_str(text).unwrap();
    json_answer(200, v["response"].clone())
}

/// A one-thread HTTP/1.1 server that records every request and answers from a script.
fn serve(answers: Vec<Raw>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut answers = answers.into_iter();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
                let mut headers = Vec::new();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                    headers.push((k.to_owned(), v.trim().to_owned()));
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                // A test that has seen enough may have dropped the receiver.
                let _ = tx.send(Seen { method, path, headers, body: String::from_utf8(body).unwrap() });
                let Some(a) = answers.next() else { return };
                let mut head = format!("HTTP/1.1 {} X\r\nDate: Wed, 25 Nov 2026 07:43:43 GMT\r\nContent-Length: {}\r\n", a.status, a.body.len());
                for (k, v) in &a.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&a.body).unwrap();
            }
        }
    });
    (url, rx)
}

const KEY: &str = "0123456789abcdef0123456789abcdef01234567";

fn settings(url: &str, protocol: ProtocolChoice) -> Settings {
    Settings {
        url: url.into(),
        database: "dimagaz".into(),
        login: "admin".into(),
        secret: KEY.into(),
        protocol,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        max_response_bytes: 1 << 20,
        ca_bundle_pem: None,
        pace: None,
    }
}

fn version(major: Value, text: &str) -> Raw {
    json_answer(200, json!({"version_info": [major, 0, 0, "final", 0, ""], "version": text}))
}

/// The seven read calls, in the allowlist's order (the last two: a fingerprint, asked with each
/// method in turn, the first refused as a method the server does not have).
fn every_read_call(c: &Client) {
    c.fields_get("dimagaz.bc").unwrap();
    c.search_ids("dimagaz.bc", &json!([]), "id asc", Some(5)).unwrap();
    c.search_read("dimagaz.bc", &json!([["id", ">", 0]]), &["id".into()], "id asc", 10).unwrap();
    c.search_count("dimagaz.bc", &json!([])).unwrap();
    c.read("dimagaz.bc", &[OdooId::from_column(1), OdooId::from_column(2)], &["id".into()]).unwrap();
    assert!(c.fingerprint("dimagaz.bc", &json!([]), true).unwrap().is_some());
}

#[test]
fn jsonrpc_sends_only_allowlisted_methods() {
    let (url, rx) = serve(vec![
        not_found_html(),
        not_found_html(),
        fixture18(include_str!("../../fixtures/odoo18/01_version.json")),
        rpc_ok(json!(2)),
        rpc_ok(json!({"id": {"type": "integer"}})),
        rpc_ok(json!([1])),
        rpc_ok(json!([])),
        rpc_ok(json!(1)),
        rpc_ok(json!([])),
        // JSON-RPC asks read_group first; here it is gone (as on Odoo Online 19.1), and
        // formatted_read_group answers.
        json_answer(200, json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error",
            "data": {"name": "builtins.AttributeError", "message": "type object 'dimagaz.bc' has no attribute 'read_group'"}}})),
        rpc_ok(json!([{"__extra_domain": [[1, "=", 1]], "__count": 1, "id:sum": 1, "write_date:max": false}])),
    ]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!((c.protocol(), c.server_version()), (Some(Protocol::JsonRpc), Some("18.0+e-20241005")), "auto picks JSON-RPC for 18");
    every_read_call(&c);
    let seen: Vec<Seen> = rx.try_iter().collect();
    let paths: Vec<String> = seen.iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    assert_eq!(paths[..3], ["GET /json/version", "GET /web/version", "POST /jsonrpc"]);
    assert!(paths[3..].iter().all(|p| p == "POST /jsonrpc"), "{paths:?}");
    let allowed: Vec<&str> = ReadMethod::ALL.iter().map(|m| m.as_str()).collect();
    let mut called = Vec::new();
    for s in &seen[2..] {
        assert_eq!(s.header("user-agent"), Some(USER_AGENT));
        let b = s.json();
        let params = &b["params"];
        match params["service"].as_str().unwrap() {
            "common" => assert!(["version", "authenticate"].contains(&params["method"].as_str().unwrap())),
            "object" => {
                assert_eq!(params["method"], "execute_kw");
                let m = params["args"][4].as_str().unwrap();
                assert!(allowed.contains(&m), "{m} reached the wire");
                called.push(m.to_owned());
            }
            other => panic!("unexpected service {other}"),
        }
    }
    assert_eq!(called, allowed, "each read method, nothing else");
    // The searches' domain stays positional (Odoo 16 names it `args`), read's ids too.
    assert_eq!(seen[6].json()["params"]["args"][5], json!([[["id", ">", 0]]]));
    assert_eq!(seen[6].json()["params"]["args"][6]["context"]["active_test"], json!(false));
    assert_eq!(seen[8].json()["params"]["args"][5], json!([[1, 2]]));
    assert_eq!(c.server_time().map(|t| t.to_rfc3339()), Some("2026-11-25T07:43:43+00:00".into()), "Odoo's clock from the Date header");
    assert_eq!(c.requests_sent(), 11);
    assert_eq!(c.detected().unwrap().fingerprints, crate::odoo::fingerprint::Support::With(crate::odoo::fingerprint::Method::FormattedReadGroup));
}

#[test]
fn json2_sends_only_allowlisted_methods_in_the_url_with_the_key_in_a_header() {
    let (url, rx) = serve(vec![
        fixture(include_str!("../../fixtures/odoo19/02_json_version.txt")),
        json_answer(200, json!({"id": {"type": "integer"}})),
        json_answer(200, json!([1, 2])),
        fixture(include_str!("../../fixtures/odoo19/03_search_read.txt")),
        fixture(include_str!("../../fixtures/odoo19/09_search_count.txt")),
        fixture(include_str!("../../fixtures/odoo19/12_read.txt")),
        // JSON-2 asks formatted_read_group first: this server has no `web` addon (the real
        // answer of such a server), and read_group answers.
        fixture(include_str!("../../fixtures/odoo19/44_formatted_read_group_without_web.txt")),
        fixture(include_str!("../../fixtures/odoo19/43_read_group_fingerprint.txt")),
    ]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!((c.protocol(), c.server_version()), (Some(Protocol::Json2), Some("19.0")), "auto picks JSON-2 for 19, with no login");
    every_read_call(&c);
    let seen: Vec<Seen> = rx.try_iter().collect();
    assert_eq!(seen.len(), 8, "one version request, then the seven calls: {seen:?}");
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/json/version"));
    let mut allowed: Vec<String> = ReadMethod::ALL.iter().map(|m| format!("/json/2/dimagaz.bc/{}", m.as_str())).collect();
    allowed.swap(5, 6); // formatted_read_group is tried first on JSON-2
    let paths: Vec<&str> = seen[1..].iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, allowed, "each read method in the URL, nothing else");
    for s in &seen[1..] {
        assert_eq!(s.method, "POST");
        assert_eq!(s.header("authorization"), Some(format!("bearer {KEY}").as_str()));
        assert_eq!(s.header("x-odoo-database"), Some("dimagaz"));
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(s.header("user-agent"), Some(USER_AGENT));
        assert!(!s.body.contains(KEY), "the key travels in the header only");
    }
    assert_eq!(
        seen[1].json(),
        json!({"attributes": ["type", "string", "relation", "relation_field", "store", "required", "readonly", "selection", "digits"]})
    );
    assert_eq!(seen[2].json(), json!({"domain": [], "order": "id asc", "limit": 5, "context": {"active_test": false}}));
    assert_eq!(seen[3].json(), json!({"domain": [["id", ">", 0]], "fields": ["id"], "order": "id asc", "limit": 10, "context": {"active_test": false}}));
    assert_eq!(seen[4].json(), json!({"domain": [], "context": {"active_test": false}}));
    assert_eq!(seen[5].json(), json!({"ids": [1, 2], "fields": ["id"], "context": {"active_test": false}}));
    assert_eq!(seen[6].json(), json!({"domain": [], "groupby": [], "aggregates": ["__count", "id:sum", "write_date:max"], "context": {"active_test": false}}));
    assert_eq!(seen[7].json(), json!({"domain": [], "fields": ["id:sum", "write_date:max"], "groupby": [], "lazy": false, "context": {"active_test": false}}));
    assert_eq!(c.detected().unwrap().fingerprints, crate::odoo::fingerprint::Support::With(crate::odoo::fingerprint::Method::ReadGroup));
}

#[test]
fn a_model_name_cannot_reach_a_url_path_it_was_not_meant_for() {
    let (url, rx) = serve(vec![]);
    let mut s = settings(&url, ProtocolChoice::Fixed(Protocol::Json2));
    s.url = format!("{url}/");
    let c = Client::new(s, None).unwrap();
    let mut c = c;
    // open() asks /json/version for the run log; the script has no answer, so the probe fails quietly.
    let _ = c.open();
    for bad in ["res.partner/write", "../web/session", "res.partner?x=", "Res.Partner"] {
        let e = c.search_count(bad, &json!([])).unwrap_err();
        assert!(matches!(e, OdooError::Settings(_)), "{bad}: {e:?}");
    }
    let seen: Vec<Seen> = rx.try_iter().collect();
    assert!(seen.iter().all(|s| !s.path.starts_with("/json/2")), "{seen:?}");
}

#[test]
fn saas_18_speaks_json2_only_when_it_serves_json_version() {
    let (url, _rx) = serve(vec![version(json!("saas~18"), "saas~18.3")]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.protocol(), Some(Protocol::Json2));

    let (url, _rx) = serve(vec![not_found_html(), version(json!("saas~18"), "saas~18.1"), rpc_ok(json!(2))]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.protocol(), Some(Protocol::JsonRpc));
}

#[test]
fn odoo_20_is_found_without_jsonrpc_and_json2_needs_no_login() {
    // /jsonrpc would answer 404 on 20: the detection never needs it when /json/version answers.
    let (url, rx) = serve(vec![version(json!(20), "20.0")]);
    let mut s = settings(&url, ProtocolChoice::Auto);
    s.login = String::new();
    let mut c = Client::new(s, None).unwrap();
    c.open().unwrap();
    assert_eq!(c.protocol(), Some(Protocol::Json2));
    assert_eq!(rx.try_iter().count(), 1);
}

#[test]
fn jsonrpc_without_a_login_is_a_clear_settings_error() {
    let (url, _rx) = serve(vec![not_found_html(), not_found_html(), fixture18(include_str!("../../fixtures/odoo18/01_version.json"))]);
    let mut s = settings(&url, ProtocolChoice::Auto);
    s.login = String::new();
    let mut c = Client::new(s, None).unwrap();
    let e = c.open().unwrap_err();
    assert!(matches!(e, OdooError::Settings(ref m) if m.contains("JSON-RPC, which needs a login") && m.contains("18.0")), "{e:?}");
}

#[test]
fn a_server_error_while_asking_the_version_is_reported_as_such() {
    let (url, _rx) = serve(vec![Raw { status: 502, headers: vec![("Content-Type".into(), "text/html".into())], body: b"<title>502 Bad Gateway</title>".to_vec() }]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    let e = c.open().unwrap_err();
    assert!(matches!(e, OdooError::Http { status: 502, .. }) && e.is_too_heavy(), "{e:?}");
    assert_eq!(c.requests_sent(), 1, "a proxy in front of a dead Odoo is not asked twice more");
}

#[test]
fn a_server_that_answers_neither_protocol_says_what_was_tried() {
    let (url, _rx) = serve(vec![not_found_html(), not_found_html(), not_found_html()]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    let e = c.open().unwrap_err();
    assert!(matches!(e, OdooError::NoProtocol { .. }), "{e:?}");
    let text = e.to_string();
    for tried in ["GET /json/version", "GET /web/version", "POST /jsonrpc common.version", "HTTP 404"] {
        assert!(text.contains(tried), "{text}");
    }
}

/// A client already open over JSON-2, whose next call gets `answer`, and so do its retries.
fn json2_error(answer: Raw) -> OdooError {
    let (url, _rx) = serve(vec![version(json!(19), "19.0"), answer.clone(), answer.clone(), answer]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    c.search_count("res.partner", &json!([])).unwrap_err()
}

#[test]
fn json2_errors_from_the_real_wire() {
    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/22_error_wrong_key.txt")));
    assert!(e.is_auth_failure(), "{e:?}");
    assert_eq!(e.to_string(), "Odoo refused the API key on database \"dimagaz\" (HTTP 401, werkzeug.exceptions.Unauthorized: Invalid apikey); check the key, or whether it was revoked or expired");
    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/23_error_no_authorization.txt")));
    assert!(e.is_auth_failure(), "{e:?}");

    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/15_write_readonly_key.txt")));
    assert!(matches!(e, OdooError::AccessDenied { ref model, ref message, .. } if model == "res.partner" && message.starts_with("You are not allowed")), "{e:?}");
    assert!(e.to_string().starts_with("the Odoo user has no read access to model res.partner (odoo.exceptions.AccessError: You are not allowed"), "{e}");

    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/19_error_unknown_model.txt")));
    assert_eq!(e.to_string(), "Odoo has no model res.partner (werkzeug.exceptions.NotFound: the model 'no.such.model' does not exist)");

    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/29_error_wrong_database.txt")));
    assert!(matches!(e, OdooError::DatabaseNotFound { ref database, .. } if database == "dimagaz"), "{e:?}");
    assert!(e.to_string().contains("database \"dimagaz\" was not found on the Odoo server"), "{e}");

    for (f, status) in [
        (include_str!("../../fixtures/odoo19/24_error_malformed_body.txt"), 400),
        (include_str!("../../fixtures/odoo19/25_error_wrong_content_type.txt"), 415),
        (include_str!("../../fixtures/odoo19/26_error_unknown_argument.txt"), 422),
        (include_str!("../../fixtures/odoo19/27_error_ids_on_model_method.txt"), 422),
    ] {
        let e = json2_error(fixture(f));
        assert!(matches!(e, OdooError::RequestRejected { status: s, .. } if s == status), "{e:?}");
        let text = e.to_string();
        assert!(!text.contains('<'), "no raw HTML in the message: {text}");
    }
    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/25_error_wrong_content_type.txt")));
    assert!(e.to_string().contains("text/html body of 321 bytes: \"415 Unsupported Media Type\""), "{e}");

    let e = json2_error(fixture(include_str!("../../fixtures/odoo19/28_error_unknown_field_in_domain.txt")));
    assert!(matches!(e, OdooError::Server { ref name, .. } if name == "builtins.ValueError"), "{e:?}");
}

#[test]
fn jsonrpc_errors_from_the_real_wire_of_18_and_19() {
    let open = |answers: Vec<Raw>| {
        let (url, _rx) = serve(answers);
        let mut c = Client::new(settings(&url, ProtocolChoice::Fixed(Protocol::JsonRpc)), None).unwrap();
        c.open().unwrap();
        c
    };
    let version18 = || fixture18(include_str!("../../fixtures/odoo18/01_version.json"));
    // Odoo 18 (error code 200) and 19 (code 0): the same meaning.
    for unknown in [
        fixture18(include_str!("../../fixtures/odoo18/11_error_unknown_model.json")),
        fixture(include_str!("../../fixtures/odoo19/38_jsonrpc_error_unknown_model.txt")),
    ] {
        let c = open(vec![version18(), rpc_ok(json!(2)), unknown]);
        let e = c.search_count("no.such.model", &json!([])).unwrap_err();
        assert_eq!(e.to_string(), "Odoo has no model no.such.model (odoo.exceptions.UserError: Object no.such.model doesn't exist)");
    }
    for denied in [
        fixture18(include_str!("../../fixtures/odoo18/12_error_wrong_password_execute_kw.json")),
        fixture(include_str!("../../fixtures/odoo19/40_jsonrpc_error_wrong_password.txt")),
    ] {
        let c = open(vec![version18(), rpc_ok(json!(2)), denied]);
        assert!(c.search_count("res.partner", &json!([])).unwrap_err().is_auth_failure());
    }
    let c = open(vec![version18(), rpc_ok(json!(2)), fixture(include_str!("../../fixtures/odoo19/39_jsonrpc_malformed_body.txt"))]);
    let e = c.search_count("res.partner", &json!([])).unwrap_err();
    assert!(matches!(e, OdooError::RequestRejected { status: 400, ref detail, .. } if detail.contains("Invalid JSON data")), "{e:?}");
    let mut wrong_db = settings("http://x", ProtocolChoice::Fixed(Protocol::JsonRpc));
    wrong_db.database = "no_such_db".into();
    let (url, _rx) = serve(vec![version18(), rpc_ok(json!(2)), fixture18(include_str!("../../fixtures/odoo18/14_error_wrong_database.json"))]);
    wrong_db.url = url;
    let mut c = Client::new(wrong_db, None).unwrap();
    c.open().unwrap();
    assert!(matches!(c.search_count("res.partner", &json!([])).unwrap_err(), OdooError::DatabaseNotFound { .. }));
    // An API key in place of the password (19, samples 35 and 37): JSON-RPC sends it where the
    // password goes, and the server's answer is read as usual.
    let (url, rx) = serve(vec![
        fixture(include_str!("../../fixtures/odoo19/35_jsonrpc_version.txt")),
        rpc_ok(json!(2)),
        fixture(include_str!("../../fixtures/odoo19/37_jsonrpc_apikey_as_password.txt")),
    ]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Fixed(Protocol::JsonRpc)), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.server_version(), Some("19.0"));
    assert!(c.search_count("res.partner", &json!([])).unwrap() > 0);
    let seen: Vec<Seen> = rx.try_iter().collect();
    assert_eq!(seen[2].json()["params"]["args"][2], json!(KEY));
}

#[test]
fn a_failed_login_is_reported_as_such() {
    let (url, _rx) = serve(vec![not_found_html(), not_found_html(), fixture18(include_str!("../../fixtures/odoo18/01_version.json")), rpc_ok(json!(false))]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    let e = c.open().unwrap_err();
    assert!(e.is_auth_failure());
    assert_eq!(e.to_string(), "Odoo refused the login of user \"admin\" on database \"dimagaz\" (wrong login or secret)");
}

#[test]
fn errors_never_show_the_key_under_either_protocol() {
    let echo = format!("Access Denied for {KEY}");
    let e = json2_error(json_answer(401, json!({"name": "werkzeug.exceptions.Unauthorized", "message": echo})));
    assert!(!e.to_string().contains(KEY) && !format!("{e:?}").contains(KEY), "{e}");
    let e = json2_error(json_answer(500, json!({"name": "builtins.ValueError", "message": echo})));
    assert_eq!(e.to_string(), "Odoo raised builtins.ValueError: Access Denied for ********");
    let e = json2_error(Raw { status: 502, headers: vec![("Content-Type".into(), "text/html".into())], body: format!("<title>{KEY}</title>").into_bytes() });
    assert!(!e.to_string().contains(KEY), "{e}");

    let (url, _rx) = serve(vec![rpc_ok(json!({"server_version_info": [18, 0]})), rpc_ok(json!(2)),
        json_answer(200, json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.AccessDenied", "message": echo}}}))]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Fixed(Protocol::JsonRpc)), None).unwrap();
    c.open().unwrap();
    let e = c.search_count("res.partner", &json!([])).unwrap_err();
    assert_eq!(e.to_string(), "Odoo raised odoo.exceptions.AccessDenied: Access Denied for ********");
}

#[test]
fn a_glitch_is_tried_once_more_and_a_rate_limit_is_waited_for() {
    let proxy_page = Raw { status: 502, headers: vec![("Content-Type".into(), "text/html".into())], body: b"<title>502 Bad Gateway</title>".to_vec() };
    let mut too_many = not_found_html();
    too_many.status = 429;
    too_many.headers.push(("Retry-After".into(), "1".into()));
    let (url, rx) = serve(vec![version(json!(19), "19.0"), proxy_page, json_answer(200, json!(7)), too_many, json_answer(200, json!(8))]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.search_count("res.partner", &json!([])).unwrap(), 7, "the 502 is tried once more");
    let t0 = std::time::Instant::now();
    assert_eq!(c.search_count("res.partner", &json!([])).unwrap(), 8, "the 429 is waited for");
    assert!(t0.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured: {:?}", t0.elapsed());
    assert_eq!(c.waits().0, 1);
    assert_eq!(rx.try_iter().count(), 5, "one request each, no more");
}

#[test]
fn a_small_answer_too_large_is_tried_again_a_record_too_large_is_not() {
    let runaway = || Raw { status: 200, headers: vec![("Content-Type".into(), "application/json".into())], body: vec![b' '; (1 << 20) + 10] };
    let (url, rx) = serve(vec![version(json!(19), "19.0"), runaway(), json_answer(200, json!(7)), runaway(), runaway(), json_answer(200, json!([5])), runaway()]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.search_count("res.partner", &json!([])).unwrap(), 7, "a count over the limit was asked again");
    let e = c.read("res.partner", &[OdooId::from_column(1)], &["name".to_owned()]).unwrap_err();
    assert!(matches!(e, OdooError::TooLarge { .. }), "{e:?}");
    assert_eq!(c.search_ids("res.partner", &json!([]), "id desc", Some(1)).unwrap(), vec![OdooId::from_column(5)], "the probe of one id was asked again");
    let e = c.search_ids("res.partner", &json!([]), "id asc", None).unwrap_err();
    assert!(matches!(e, OdooError::TooLarge { .. }), "every id, too many: {e:?}");
    assert_eq!(rx.try_iter().count(), 7, "neither the record's read nor the search of every id was sent again");
}

#[test]
fn a_server_error_on_json_rpc_version_is_tried_again_not_taken_for_no_protocol() {
    let server_error = || Raw { status: 500, headers: vec![("Content-Type".into(), "text/html".into())], body: b"<title>500 Internal Server Error</title>".to_vec() };
    let (url, rx) = serve(vec![
        not_found_html(),
        not_found_html(),
        server_error(),
        not_found_html(),
        not_found_html(),
        fixture18(include_str!("../../fixtures/odoo18/01_version.json")),
        fixture18(include_str!("../../fixtures/odoo18/02_authenticate_ok.json")),
    ]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.protocol(), Some(Protocol::JsonRpc));
    assert_eq!(rx.try_iter().count(), 7, "the three questions asked again after the 500, then the login");
}

#[test]
fn a_glitch_while_connecting_is_tried_again() {
    let proxy_page = Raw { status: 500, headers: vec![("Content-Type".into(), "text/html".into())], body: b"<title>500 Internal Server Error</title>".to_vec() };
    let (url, rx) = serve(vec![proxy_page, version(json!(19), "19.0"), json_answer(200, json!(7))]);
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    assert_eq!(c.search_count("res.partner", &json!([])).unwrap(), 7, "spoken to over JSON-2");
    let paths: Vec<String> = rx.try_iter().map(|r| r.path).collect();
    assert_eq!(paths[..2], ["/json/version", "/json/version"], "the version asked again after the 500: {paths:?}");
}

#[test]
fn bodies_that_are_not_json_get_a_clean_message_never_a_parser_message() {
    let e = json2_error(Raw { status: 200, headers: vec![("Content-Type".into(), "application/json".into())], body: b"[{\"id\": 1, \"na".to_vec() });
    assert_eq!(e.to_string(), format!("Odoo at {} sent an answer that is not valid JSON: the body was cut short after 14 bytes", match &e { OdooError::Malformed { url, .. } => url.clone(), _ => panic!("{e:?}") }));
    let e = json2_error(Raw { status: 200, headers: vec![("Content-Type".into(), "text/html".into())], body: b"<html><title>Login</title></html>".to_vec() });
    assert!(e.to_string().ends_with("text/html body of 33 bytes: \"Login\""), "{e}");
    let e = json2_error(Raw { status: 502, headers: vec![("Content-Type".into(), "text/html".into())], body: b"<html><head><title>502 Bad Gateway</title></head></html>".to_vec() });
    assert!(matches!(e, OdooError::Http { status: 502, .. }) && e.is_too_heavy(), "{e:?}");
    assert!(e.to_string().ends_with("HTTP 502 with a text/html body of 56 bytes: \"502 Bad Gateway\""), "{e}");
    let text = e.to_string();
    assert!(!text.contains("line ") && !text.contains("column"), "{text}");
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = Client::new(settings(&format!("http://user:pw@127.0.0.1:{port}"), ProtocolChoice::Auto), None).unwrap();
    let e = c.open().unwrap_err();
    assert!(matches!(e, OdooError::Connect { .. }), "{e:?}");
    assert!(!e.to_string().contains("pw@"), "{e}");
    assert_eq!(c.requests_sent(), 1, "a dead server is not asked three times");
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let _held: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(5));
    });
    let mut s = settings(&url, ProtocolChoice::Auto);
    s.read_timeout = Duration::from_millis(300);
    let mut c = Client::new(s, None).unwrap();
    let t = std::time::Instant::now();
    let e = c.open().unwrap_err();
    assert!(matches!(e, OdooError::Timeout { .. }), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn interrupt_is_checked_before_sending() {
    let mut c = Client::new(settings("http://127.0.0.1:9", ProtocolChoice::Auto), Some(Arc::new(|| true))).unwrap();
    assert_eq!(c.open().unwrap_err(), OdooError::Interrupted);
    assert_eq!(c.requests_sent(), 0);
}

#[test]
fn settings_debug_and_urls_hide_credentials() {
    let s = settings("https://bob:hunter2@erp.example.com/odoo", ProtocolChoice::Auto);
    let d = format!("{s:?}");
    assert!(!d.contains(KEY) && !d.contains("hunter2"), "{d}");
    assert_eq!(display_url(&s.url), "https://erp.example.com/odoo");
    assert!(is_loopback("http://127.0.0.1:8069"));
    assert!(is_loopback("http://localhost"));
    assert!(is_loopback("http://[::1]:80/"));
    assert!(!is_loopback("http://erp.example.com"));
    assert!(Client::new(settings("ftp://x", ProtocolChoice::Auto), None).is_err());
}

#[test]
fn a_forked_client_calls_as_its_parent_without_logging_in_again_and_stops_on_its_own_flag() {
    let (url, rx) = serve(vec![
        not_found_html(),
        not_found_html(),
        fixture18(include_str!("../../fixtures/odoo18/01_version.json")),
        rpc_ok(json!(7)),
        rpc_ok(json!(3)),
    ]);
    let unopened = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    assert!(matches!(unopened.fork(None), Err(OdooError::Settings(_))), "only an open client knows its protocol and user");
    let mut c = Client::new(settings(&url, ProtocolChoice::Auto), None).unwrap();
    c.open().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_stop = stop.clone();
    let fork = c.fork(Some(Arc::new(move || seen_stop.load(std::sync::atomic::Ordering::Relaxed)))).unwrap();
    assert_eq!(fork.search_count("dimagaz.bc", &json!([])).unwrap(), 3);
    let seen: Vec<Seen> = rx.try_iter().collect();
    assert_eq!(seen.len(), 5, "no second login: {seen:?}");
    let params = &seen[4].json()["params"];
    assert_eq!((params["args"][1].clone(), params["args"][4].clone()), (json!(7), json!("search_count")), "the parent's uid");
    assert_eq!((c.requests_sent(), fork.requests_sent()), (4, 1), "each counts its own requests");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(fork.search_count("dimagaz.bc", &json!([])), Err(OdooError::Interrupted)));
    assert_eq!(fork.protocol(), Some(Protocol::JsonRpc));
}
