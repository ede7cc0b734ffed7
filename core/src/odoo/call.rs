//! One read call, in the form both protocols encode (`jsonrpc::execute_kw_body`,
//! `json2::request`).
use serde_json::{Map, Value};

use super::methods::ReadMethod;

#[derive(Debug, Clone)]
pub struct ReadCall {
    pub model: String,
    pub method: ReadMethod,
    /// The records (`read`) or the domain (the searches); `None` for `fields_get`.
    pub target: Option<Value>,
    /// Keyword arguments, `context` included.
    pub kwargs: Map<String, Value>,
}

impl ReadCall {
    pub fn new(model: &str, method: ReadMethod, target: Option<Value>, kwargs: Value) -> ReadCall {
        let kwargs = match kwargs {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        ReadCall { model: model.to_owned(), method, target, kwargs }
    }

    /// `model.method`, for messages.
    pub fn name(&self) -> String {
        format!("{}.{}", self.model, self.method.as_str())
    }
}

/// Model names go into JSON-2 URL paths: only what Odoo allows in a model name may pass
/// (lowercase letters, digits, `_` and `.`), so nothing can add a path segment or a query.
pub fn valid_model_name(model: &str) -> bool {
    !model.is_empty()
        && !model.starts_with('.')
        && !model.ends_with('.')
        && !model.contains("..")
        && model.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_that_could_change_a_url_are_refused() {
        for ok in ["dimagaz.bc", "dimagaz.bc.line", "res.partner", "x_custom_2"] {
            assert!(valid_model_name(ok), "{ok}");
        }
        for bad in ["", "../web", "res.partner/write", "res.partner?x=1", "Res.Partner", ".a", "a.", "a..b", "a b", "res.partner#"] {
            assert!(!valid_model_name(bad), "{bad}");
        }
    }
}
