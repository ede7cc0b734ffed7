//! The read-only allowlist.

/// The model methods scrap_sga may call. There is deliberately no way to build a request
/// around any other method name: a [`ReadCall`](super::call::ReadCall) takes this enum, not a
/// string, and both protocols put only `as_str()` of it on the wire (in a JSON-RPC body, or in
/// a JSON-2 URL path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMethod {
    FieldsGet,
    Search,
    SearchRead,
    SearchCount,
    Read,
    /// Aggregates over a domain (the count, sum of ids and newest write_date of a set of
    /// records: its fingerprint). Deprecated in 19, and gone from Odoo Online 19.1.
    ReadGroup,
    /// The same, in the form of Odoo 19 and later (defined by the `web` addon).
    FormattedReadGroup,
}

impl ReadMethod {
    pub const ALL: [ReadMethod; 7] = [
        ReadMethod::FieldsGet,
        ReadMethod::Search,
        ReadMethod::SearchRead,
        ReadMethod::SearchCount,
        ReadMethod::Read,
        ReadMethod::ReadGroup,
        ReadMethod::FormattedReadGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadMethod::FieldsGet => "fields_get",
            ReadMethod::Search => "search",
            ReadMethod::SearchRead => "search_read",
            ReadMethod::SearchCount => "search_count",
            ReadMethod::Read => "read",
            ReadMethod::ReadGroup => "read_group",
            ReadMethod::FormattedReadGroup => "formatted_read_group",
        }
    }

    /// The name of the method's first argument, which JSON-RPC sends positionally (Odoo 16
    /// still calls the searches' domain `args`, so naming it there would break) and JSON-2 as a
    /// key of the body: the records of `read` are the reserved key `ids`.
    pub fn target_name(self) -> Option<&'static str> {
        match self {
            ReadMethod::Read => Some("ids"),
            ReadMethod::Search | ReadMethod::SearchRead | ReadMethod::SearchCount | ReadMethod::ReadGroup | ReadMethod::FormattedReadGroup => {
                Some("domain")
            }
            ReadMethod::FieldsGet => None,
        }
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_is_exactly_the_seven_read_methods() {
        let names: Vec<&str> = ReadMethod::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names, vec!["fields_get", "search", "search_read", "search_count", "read", "read_group", "formatted_read_group"]);
    }

    #[test]
    fn no_writing_or_private_method_can_be_named() {
        let names: Vec<&str> = ReadMethod::ALL.iter().map(|m| m.as_str()).collect();
        for m in ["write", "create", "unlink", "copy", "action_confirm", "button_cancel", "toggle_active",
                  "action_archive", "message_post", "_read_group", "name_create", "web_save", "SEARCH_READ", "read "] {
            assert!(!names.contains(&m), "{m}");
        }
    }
}
