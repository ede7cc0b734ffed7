//! Identifiers that come from a remote server.
//!
//! Field and model names are chosen by whoever administers the Odoo server, so they are
//! untrusted input. A name becomes a column only if it passes [`valid_field_name`], and every
//! identifier that reaches SQL goes through [`quote`] anyway: validation keeps the columns
//! readable, quoting makes injection impossible even if validation had a hole.

/// Postgres truncates identifiers longer than this many bytes (NAMEDATALEN - 1); two long
/// names could then silently become the same column, so longer names are refused instead.
pub const MAX_IDENT_BYTES: usize = 63;

/// A field name is accepted if it looks like a Python identifier made of ASCII letters,
/// digits and underscores (which every Odoo field name is), and fits in `max_bytes`.
pub fn valid_field_name(name: &str, max_bytes: usize) -> Result<(), String> {
    if name.len() > max_bytes {
        return Err(format!("longer than {max_bytes} bytes"));
    }
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return Err("empty name".into()) };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err("must start with a letter or an underscore".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("contains the character {bad:?}"));
    }
    Ok(())
}

/// An Odoo model name (`dimagaz.bc.line`): lowercase words separated by dots, the rule of
/// `scrap_sga.model`'s CHECK constraint. Model names go into JSON-2 URL paths: nothing else can
/// add a path segment or a query there.
pub fn valid_model_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("a model name has 1 to 128 characters".into());
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err("a model name is words separated by single dots".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '.')) {
        return Err(format!("a model name may not contain {bad:?}"));
    }
    Ok(())
}

/// Quote an identifier for SQL, doubling embedded quotes (what `quote_ident` does, always quoting).
pub fn quote(ident: &str) -> String {
    enclose(ident, '"')
}

/// Quote a string literal for SQL (standard_conforming_strings is on in every supported Postgres).
pub fn literal(value: &str) -> String {
    enclose(value, '\'')
}

/// `text` between two `q`, each `q` in it doubled.
fn enclose(text: &str, q: char) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(q);
    for c in text.chars() {
        if c == q {
            out.push(q);
        }
        out.push(c);
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_odoo_names_are_accepted() {
        for name in ["name", "partner_id", "x_studio_note", "_private", "amount_total2", "A_Mixed"] {
            assert_eq!(valid_field_name(name, MAX_IDENT_BYTES), Ok(()), "{name}");
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        let hostile = [
            "",
            "name\"; DROP TABLE scrap_dimagaz_bc; --",
            "a b",
            "a-b",
            "1abc",
            "caf\u{e9}",
            "x\u{0}y",
            "a;b",
            "a'b",
            "a\"b",
            "a.b",
            "a\nb",
            "$1",
            "\u{202e}evil",
        ];
        for name in hostile {
            assert!(valid_field_name(name, MAX_IDENT_BYTES).is_err(), "{name:?} should be refused");
        }
        let long = "a".repeat(MAX_IDENT_BYTES + 1);
        assert!(valid_field_name(&long, MAX_IDENT_BYTES).is_err());
        assert!(valid_field_name(&"a".repeat(MAX_IDENT_BYTES), MAX_IDENT_BYTES).is_ok());
    }

    #[test]
    fn model_names() {
        for ok in ["dimagaz.bc", "dimagaz.bc.line", "res.partner", "x_custom_2"] {
            assert!(valid_model_name(ok).is_ok(), "{ok}");
        }
        // Nothing that could change a JSON-2 URL (/json/2/<model>/<method>) either.
        for bad in ["", ".a", "a.", "a..b", "A.b", "a b", "a;b", "a\"b", "../web", "res.partner/write", "res.partner?x=1", "Res.Partner", "res.partner#"] {
            assert!(valid_model_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quoting_doubles_quotes_and_always_wraps() {
        assert_eq!(quote("name"), "\"name\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote("x\"; DROP TABLE t; --"), "\"x\"\"; DROP TABLE t; --\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
