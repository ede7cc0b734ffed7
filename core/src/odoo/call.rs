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

    /// A call whose answer is small by nature: a count, aggregates, a model's field list, one
    /// id (the probe of an id range). One over `max_response_mb` was garbled on the way (a
    /// proxy's page, a runaway stream), not heavy: worth another try, where a read of records
    /// too heavy is not.
    pub fn answers_small(&self) -> bool {
        match self.method {
            ReadMethod::FieldsGet | ReadMethod::SearchCount | ReadMethod::ReadGroup | ReadMethod::FormattedReadGroup => true,
            ReadMethod::Search => self.kwargs.get("limit").and_then(Value::as_u64).is_some_and(|l| l <= 1),
            _ => false,
        }
    }

    /// A read of several records: when it is too heavy for Odoo, its caller asks for fewer.
    pub fn is_batch(&self) -> bool {
        match self.method {
            ReadMethod::SearchRead => self.kwargs.get("limit").and_then(Value::as_u64).is_none_or(|l| l > 1),
            ReadMethod::Read => self.target.as_ref().and_then(Value::as_array).is_some_and(|ids| ids.len() > 1),
            _ => false,
        }
    }
}
