//! `POST /jsonrpc`: Odoo 16 to 21's JSON-RPC, in its exact wire format (errors with HTTP 200 and
//! an `error` member whose `code` is 200 until 18 and 0 from 19). Deprecated in 19; Odoo's
//! documentation schedules its removal for Odoo 22 (19's own warning still says 20), so 22 does
//! not have it; `--no-jsonrpc` hides it whatever the version, as some hosted proxies do.
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

use crate::faults;
use crate::http::{Reply, Request};
use crate::methods::{self, Refusal};
use crate::state::Sim;

/// The WARNING a real Odoo 19 logs for every call that reaches the handler, verbatim.
const DEPRECATION: &str = "The /xmlrpc, /xmlrpc/2 and /jsonrpc endpoints are deprecated in Odoo 19 and scheduled for removal in Odoo 20. Please report the problem to the client making the request.\nMute this logger: --log-handler odoo.addons.rpc.controllers.jsonrpc:ERROR\nhttps://www.odoo.com/documentation/latest/developer/reference/external_api.html#migrating-from-xml-rpc-json-rpc";

pub fn ok(id: &Value, result: Value) -> Reply {
    Reply::json(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// Odoo's error envelope: HTTP 200, `error.data.name` is the Python exception class.
pub fn odoo_error(version: u32, id: &Value, name: &str, message: &str) -> Reply {
    let debug = format!("Traceback (most recent call last):\n  File \"odoo/http.py\", line 1954, in _transactioning\n    return service_model.retrying(func, env=self.env)\n{name}: {message}\n");
    let code = if version >= 19 { 0 } else { 200 };
    Reply::json(
        200,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": "Odoo Server Error",
            "data": {"name": name, "debug": debug, "message": message, "arguments": [message], "context": {}}}}),
    )
}

/// `owed`: the serving time of the answer, which the caller spends without holding `sim`.
pub fn handle(sim: &Mutex<Sim>, req: &Request, owed: &mut Duration) -> Reply {
    let (version, served) = {
        let s = sim.lock().unwrap();
        (s.version, s.serves_jsonrpc())
    };
    if !served {
        return Reply::not_found_page();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Reply::html(400, "Invalid JSON data");
    };
    if version >= 19 {
        eprintln!("WARNING odoo.addons.rpc.controllers.jsonrpc: {DEPRECATION}");
    }
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    let params = &body["params"];
    let service = params["service"].as_str().unwrap_or("");
    let method = params["method"].as_str().unwrap_or("");
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let model_method = if method == "execute_kw" { args.get(4).and_then(Value::as_str).unwrap_or("") } else { method };

    let fault = sim.lock().unwrap().take_fault(model_method);
    let post = match faults::intercept(fault, owed, |name, message| odoo_error(version, &id, name, message)) {
        Ok(post) => post,
        Err(reply) => return reply,
    };
    let mut sim = sim.lock().unwrap();
    sim.count(model_method);
    sim.count_protocol("jsonrpc", req.header("user-agent"));
    let reply = call(&mut sim, &id, service, method, &args, owed);
    match post {
        Some(p) => p.apply(reply),
        None => reply,
    }
}

fn call(sim: &mut Sim, id: &Value, service: &str, method: &str, args: &[Value], owed: &mut Duration) -> Reply {
    let version = sim.version;
    match (service, method) {
        ("common", "version") => ok(id, json!({"server_version": format!("{version}.0"), "server_version_info": [version, 0, 0, "final", 0, ""], "server_serie": format!("{version}.0"), "protocol_version": 1})),
        ("common", "authenticate") | ("common", "login") => {
            let s = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
            if s(0) != sim.database {
                return wrong_database(version, id, s(0));
            }
            if s(1) == sim.login && sim.secret_ok(s(2)) {
                ok(id, json!(sim.uid))
            } else {
                ok(id, json!(false))
            }
        }
        ("object", "execute_kw") => execute_kw(sim, id, args, owed),
        _ => odoo_error(version, id, "builtins.NameError", &format!("Method not available {service}.{method}")),
    }
}

fn wrong_database(version: u32, id: &Value, db: &str) -> Reply {
    odoo_error(version, id, "psycopg2.OperationalError", &format!("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"{db}\" does not exist\n"))
}

/// `execute_kw(db, uid, password, model, method, args, kwargs)`: `args` bind to the method's
/// parameters in their order (`read_group(domain, fields, groupby, offset, limit, orderby, lazy)`).
fn execute_kw(sim: &mut Sim, id: &Value, args: &[Value], owed: &mut Duration) -> Reply {
    let s = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
    let version = sim.version;
    if s(0) != sim.database {
        return wrong_database(version, id, s(0));
    }
    if args.get(1).and_then(Value::as_i64) != Some(sim.uid) || !sim.secret_ok(s(2)) {
        return odoo_error(version, id, "odoo.exceptions.AccessDenied", "Access Denied");
    }
    let (model_name, method) = (s(3), s(4));
    let positional = args.get(5).and_then(Value::as_array).cloned().unwrap_or_default();
    let kwargs = methods::bind(method, &positional, args.get(6).and_then(Value::as_object).cloned().unwrap_or_default());
    match methods::execute(sim, model_name, method, &kwargs) {
        Ok(v) => {
            let records = v.as_array().map_or(0, Vec::len);
            let reply = ok(id, v);
            sim.answered(model_name, method, records, &reply, owed);
            reply
        }
        Err(r) => {
            let (name, message) = r.exception(model_name, method);
            // JSON-RPC reports an unknown method as an AttributeError too, but worded by Python.
            let message = if matches!(r, Refusal::UnknownMethod) { format!("type object '{model_name}' has no attribute '{method}'") } else { message };
            odoo_error(version, id, name, &message)
        }
    }
}
