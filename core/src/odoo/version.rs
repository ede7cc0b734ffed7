//! Which protocol a server speaks, from the version it reports.
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /jsonrpc` with `execute_kw`: Odoo 16 and later (deprecated in 19, removal scheduled for 22).
    JsonRpc,
    /// `POST /json/2/<model>/<method>` with a bearer API key: Odoo 19 and later.
    Json2,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::JsonRpc => "jsonrpc",
            Protocol::Json2 => "json2",
        }
    }
}

/// The `protocol` connection setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolChoice {
    /// Ask the server its version and pick (kept with the connection; asked again at each
    /// `schema_refresh`, or when the server seems to have changed).
    Auto,
    Fixed(Protocol),
}

impl ProtocolChoice {
    pub fn parse(s: &str) -> Option<ProtocolChoice> {
        match s {
            "auto" => Some(ProtocolChoice::Auto),
            "json2" => Some(ProtocolChoice::Fixed(Protocol::Json2)),
            "jsonrpc" => Some(ProtocolChoice::Fixed(Protocol::JsonRpc)),
            _ => None,
        }
    }
}

/// A server's version as it reports it: `version_info` is `[19, 0, 0, "final", 0, ""]`, or
/// `["saas~18", 3, 0, "final", 0, ""]` on Odoo Online's intermediate releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// As the server spells it (`"19.0"`, `"18.0+e-20241005"`, `"saas~18.3"`).
    pub text: String,
    pub major: u32,
    pub saas: bool,
}

impl ServerVersion {
    /// From `GET /json/version` (`version`, `version_info`) or JSON-RPC `common.version`
    /// (`server_version`, `server_version_info`).
    pub fn from_answer(v: &Value) -> Option<ServerVersion> {
        let info = v.get("version_info").or_else(|| v.get("server_version_info"))?.as_array()?;
        let (major, saas) = match info.first()? {
            Value::Number(n) => (u32::try_from(n.as_u64()?).ok()?, false),
            Value::String(s) => (s.strip_prefix("saas~")?.parse().ok()?, true),
            _ => return None,
        };
        let text = v.get("version").or_else(|| v.get("server_version")).and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| major.to_string());
        Some(ServerVersion { text, major, saas })
    }

    /// JSON-2 comes with Odoo 19, and with the Odoo Online releases of the 18 series that
    /// already ship its `rpc` addon, which also serves `GET /json/version`: so for those, an
    /// answer on that route is the sign.
    pub fn has_json2(&self, answered_json_version: bool) -> bool {
        self.major >= 19 || (self.saas && self.major == 18 && answered_json_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_and_their_protocol() {
        let v19 = ServerVersion::from_answer(&json!({"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"})).unwrap();
        assert_eq!((v19.major, v19.saas, v19.text.as_str()), (19, false, "19.0"));
        assert!(v19.has_json2(false) && v19.has_json2(true));

        let v18 = ServerVersion::from_answer(&json!({"server_version": "18.0+e-20241005", "server_version_info": [18, 0, 0, "final", 0, ""]})).unwrap();
        assert_eq!((v18.major, v18.text.as_str()), (18, "18.0+e-20241005"));
        assert!(!v18.has_json2(true), "18.0 has no JSON-2, whatever answers");

        let saas = ServerVersion::from_answer(&json!({"version_info": ["saas~18", 3, 0, "final", 0, ""], "version": "saas~18.3"})).unwrap();
        assert!(saas.saas && saas.major == 18);
        assert!(saas.has_json2(true) && !saas.has_json2(false));

        let v20 = ServerVersion::from_answer(&json!({"version_info": [20, 0, 0, "alpha", 1, ""], "version": "20.0a1"})).unwrap();
        assert!(v20.has_json2(false));
        let v16 = ServerVersion::from_answer(&json!({"server_version_info": [16, 0, 0, "final", 0, ""]})).unwrap();
        assert_eq!(v16.text, "16");
        assert!(ServerVersion::from_answer(&json!({"version": "19.0"})).is_none());
        assert!(ServerVersion::from_answer(&json!({"version_info": ["master"]})).is_none());
    }

    #[test]
    fn protocol_setting() {
        assert_eq!(ProtocolChoice::parse("auto"), Some(ProtocolChoice::Auto));
        assert_eq!(ProtocolChoice::parse("json2"), Some(ProtocolChoice::Fixed(Protocol::Json2)));
        assert_eq!(ProtocolChoice::parse("jsonrpc"), Some(ProtocolChoice::Fixed(Protocol::JsonRpc)));
        assert_eq!(ProtocolChoice::parse("xmlrpc"), None);
    }
}
