//! JSON-RPC (`POST /jsonrpc`), the protocol of Odoo 16 to 18; deprecated in 19, its removal
//! scheduled for Odoo 22 by the external-API documentation (19's own warning still says 20).
//! Errors come with HTTP 200 and an `error` member whose `code` is 200 (Odoo 18) or 0 (19);
//! the code says nothing useful, so it is not read.
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::ReadCall;

pub const PATH: &str = "/jsonrpc";

pub fn call_body(id: u64, service: &str, method: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "call", "id": id, "params": {"service": service, "method": method, "args": args}})
}

/// `object.execute_kw(db, uid, secret, model, method, args, kwargs)`. The method name comes
/// from the call's [`ReadMethod`](super::ReadMethod), never from a string.
pub fn execute_kw_body(id: u64, db: &str, uid: i64, secret: &str, call: &ReadCall) -> Value {
    let args: Vec<Value> = call.target.iter().cloned().collect();
    call_body(id, "object", "execute_kw", json!([db, uid, secret, call.model, call.method.as_str(), args, call.kwargs]))
}

#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    #[serde(default = "Option::default")]
    pub result: Option<T>,
    #[serde(default)]
    pub error: Option<RpcError>,
}

#[derive(Debug, Deserialize)]
pub struct RpcError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: Option<RpcErrorData>,
}

#[derive(Debug, Deserialize)]
pub struct RpcErrorData {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub message: String,
}

impl RpcError {
    /// The Python exception class and its message; the traceback (`debug`) is left out on purpose:
    /// it is long, and it is the server's business.
    pub fn name_and_message(&self) -> (String, String) {
        match &self.data {
            Some(d) if !d.name.is_empty() => (d.name.clone(), d.message.trim_end().to_owned()),
            _ => ("unknown".into(), self.message.clone()),
        }
    }
}
