//! The JSON-2 API (`POST /json/2/<model>/<method>`), Odoo 19 and later: the body is the
//! method's keyword arguments plus `ids` and `context`, the answer is the bare result, and an
//! error is a real HTTP status with the serialized exception as its body.
use serde::Deserialize;
use serde_json::Value;

use super::call::ReadCall;

pub fn path(call: &ReadCall) -> String {
    format!("/json/2/{}/{}", call.model, call.method.as_str())
}

pub fn body(call: &ReadCall) -> Value {
    let mut body = call.kwargs.clone();
    if let (Some(name), Some(target)) = (call.method.target_name(), &call.target) {
        body.insert(name.to_owned(), target.clone());
    }
    Value::Object(body)
}

/// `{"name": "odoo.exceptions.AccessError", "message": "...", "arguments": [...], "debug": "..."}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub name: String,
    #[serde(default)]
    pub message: String,
}

/// The serialized exception of an error answer, when its body is one.
pub fn error_body(content_type: &str, body: &[u8]) -> Option<ErrorBody> {
    if !content_type.starts_with("application/json") {
        return None;
    }
    serde_json::from_slice::<ErrorBody>(body).ok().filter(|e| !e.name.is_empty())
}
