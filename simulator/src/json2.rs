//! `POST /json/2/<model>/<method>`: Odoo 19's JSON-2 API, in the wire format of the real server
//! (see core/fixtures/odoo19): bearer API key, `X-Odoo-Database`, keyword arguments plus `ids`
//! and `context` in the body, the bare result, and errors as HTTP statuses whose JSON body is the
//! serialized exception. Odoo 16 to 18 do not have it.
use serde_json::{json, Map, Value};
use std::sync::Mutex;
use std::time::Duration;

use crate::faults;
use crate::http::{Reply, Request};
use crate::methods::{self, Refusal};
use crate::state::Sim;

/// The serialized exception, as Odoo's JSON-2 dispatcher sends it.
pub fn error(status: u16, name: &str, message: &str) -> Reply {
    let mut arguments = vec![json!(message)];
    if name.starts_with("werkzeug.") {
        arguments.push(json!(status));
    }
    let debug = format!("Traceback (most recent call last):\n  File \"odoo/addons/rpc/controllers/json2.py\", line 66, in web_json_2_rpc\n{name}: {message}\n");
    Reply::json(status, &json!({"name": name, "message": message, "arguments": arguments, "context": {}, "debug": debug}))
}

/// The HTTP status Odoo gives each exception class (`http_status` in `odoo/exceptions.py`).
fn status_of(name: &str) -> u16 {
    match name {
        "odoo.exceptions.AccessError" | "odoo.exceptions.AccessDenied" => 403,
        "odoo.exceptions.UserError" | "odoo.exceptions.ValidationError" => 422,
        "odoo.exceptions.MissingError" => 404,
        _ => 500,
    }
}

const NO_DATABASE: &str = "<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>No database is selected and the requested URL was not found in the server-wide controllers.</p>\n<p>Please verify the hostname, <a href=/web/login>login</a> and try again.</p>\n\n<!-- Alternatively, use the X-Odoo-Database header. -->\n";

/// `owed`: the serving time of the answer, which the caller spends without holding `sim`.
pub fn handle(sim: &Mutex<Sim>, req: &Request, owed: &mut Duration) -> Reply {
    if sim.lock().unwrap().version < 19 {
        return Reply::not_found_page();
    }
    let rest = req.path.strip_prefix("/json/2/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    if req.method != "POST" || parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
        return error(404, "werkzeug.exceptions.NotFound", "Did you mean POST /json/2/<model>/<method>?");
    }
    let (model_name, method) = (parts[0], parts[1]);
    {
        let s = sim.lock().unwrap();
        if req.header("x-odoo-database").is_some_and(|db| db != s.database) {
            return Reply::html(404, NO_DATABASE);
        }
    }
    if !req.header("content-type").unwrap_or("").starts_with("application/json") {
        return Reply::html(415, "<!doctype html>\n<html lang=en>\n<title>415 Unsupported Media Type</title>\n<h1>Unsupported Media Type</h1>\n<p>Please verify the Content-Type request header and try again.</p>\n")
            .with_header("Accept", "application/json");
    }
    let body: Map<String, Value> = match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return error(400, "werkzeug.exceptions.BadRequest", "the body must be a JSON object"),
        Err(e) => return error(400, "werkzeug.exceptions.BadRequest", &format!("could not parse the body as json: {e}")),
    };
    let key = req.header("authorization").and_then(|h| {
        let (scheme, key) = h.split_once(char::is_whitespace)?;
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim().to_owned())
    });
    let Some(key) = key else {
        return error(401, "werkzeug.exceptions.Unauthorized", "User not authenticated, use an API Key with a Bearer Authorization header.")
            .with_header("WWW-Authenticate", "Bearer ");
    };
    if !sim.lock().unwrap().api_keys.contains(&key) {
        return error(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey").with_header("WWW-Authenticate", "Bearer ");
    }

    let fault = sim.lock().unwrap().take_fault(method);
    let post = match faults::intercept(fault, owed, |name, message| error(status_of(name), name, message)) {
        Ok(post) => post,
        Err(reply) => return reply,
    };
    let mut sim = sim.lock().unwrap();
    sim.count(method);
    sim.count_protocol("json2", req.header("user-agent"));
    let reply = call(&mut sim, model_name, method, body, owed);
    match post {
        Some(p) => p.apply(reply),
        None => reply,
    }
}

/// The call itself, once the request is authenticated: its body is the method's keyword
/// arguments, plus `ids` for a record method (`read`) and `context`.
fn call(sim: &mut Sim, model_name: &str, method: &str, kwargs: Map<String, Value>, owed: &mut Duration) -> Reply {
    if sim.store.model(model_name).is_none() {
        return error(404, "werkzeug.exceptions.NotFound", &format!("the model '{model_name}' does not exist"));
    }
    let params = methods::params(method);
    if kwargs.contains_key("ids") && !params.is_empty() && !params.contains(&"ids") {
        return error(422, "werkzeug.exceptions.UnprocessableEntity", &format!("cannot call {model_name}.{method} with ids"));
    }
    if let Some(bad) = kwargs.keys().find(|k| *k != "context" && !params.is_empty() && !params.contains(&k.as_str())) {
        return error(422, "werkzeug.exceptions.UnprocessableEntity", &format!("got an unexpected keyword argument '{bad}'"));
    }
    match methods::execute(sim, model_name, method, &kwargs) {
        Ok(v) => {
            let records = v.as_array().map_or(0, Vec::len);
            let reply = Reply::json(200, &v);
            sim.answered(model_name, method, records, &reply, owed);
            reply
        }
        Err(Refusal::UnknownMethod) => error(404, "werkzeug.exceptions.NotFound", &format!("The method '{model_name}.{method}' does not exist")),
        Err(r) => {
            let (name, message) = r.exception(model_name, method);
            error(status_of(name), name, &message)
        }
    }
}
