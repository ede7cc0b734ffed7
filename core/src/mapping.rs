//! From Odoo fields to Postgres columns, and from Odoo values to column values.
//!
//! Nothing here is specific to `dimagaz.*`: the plan is computed from whatever `fields_get`
//! reports. The rules, which the README repeats for Django developers:
//!
//! * every stored field becomes a column of the same name; a many2one becomes two (its id, and
//!   `<name>_display` with the display name Odoo sent beside it);
//! * Odoo's `false` for an empty non-boolean value becomes NULL; x2many lists become `integer[]`
//!   (an empty list stays `{}`); datetimes are UTC `timestamptz`; binaries are `bytea`; amounts
//!   (`monetary`, and `float` with `digits`) are `numeric`, as Odoo itself stores them;
//! * columns the extension adds start with `sga_`, a prefix no Odoo field may use here, so they
//!   can never clash with a field that appears later.
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

use crate::ident;

/// Columns scrap_sga adds to every mirror table. Odoo fields with this prefix are skipped.
pub const META_PREFIX: &str = "sga_";
pub const COL_SYNCED_AT: &str = "sga_synced_at";
pub const COL_RUN_ID: &str = "sga_run_id";
pub const COL_DELETED_AT: &str = "sga_deleted_at";
/// Suffix of the column that keeps a many2one's display name.
pub const DISPLAY_SUFFIX: &str = "_display";

/// The `fields_get` attributes the mapping and the catalog use: asked for by name, since Odoo
/// answers 15 to 22 attributes per field otherwise.
pub const FIELDS_GET_ATTRIBUTES: [&str; 9] = ["type", "string", "relation", "relation_field", "store", "required", "readonly", "selection", "digits"];

/// One entry of `fields_get`, reduced to what the mapping and the catalog need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OdooField {
    pub name: String,
    pub ftype: String,
    pub relation: Option<String>,
    /// Odoo says `store: false` for computed fields that are not kept in its database.
    pub store: bool,
    pub label: Option<String>,
    /// `[precision, scale]` of a float with `digits` (empty when Odoo gave a bare `digits`,
    /// still a numeric column there); None without.
    pub digits: Option<Vec<i32>>,
    /// A selection's `[value, label]` pairs, as Odoo sent them.
    pub selection: Option<Value>,
    /// For a one2many: the many2one of the related model that points back.
    pub relation_field: Option<String>,
}

impl OdooField {
    /// Read one `fields_get` entry (`name` is the key of the answer's object).
    pub fn from_fields_get(name: &str, attrs: &Value) -> OdooField {
        let s = |k: &str| attrs.get(k).and_then(Value::as_str).map(str::to_owned);
        // Odoo leaves an attribute out where it does not apply, and says `false` for a float
        // declared without digits on some versions.
        let digits = match attrs.get("digits") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_i64).filter_map(|n| i32::try_from(n).ok()).collect()),
            Some(_) => Some(Vec::new()),
        };
        OdooField {
            name: name.to_owned(),
            ftype: s("type").unwrap_or_else(|| "unknown".into()),
            relation: s("relation"),
            store: attrs.get("store").and_then(Value::as_bool).unwrap_or(true),
            label: s("string"),
            digits,
            selection: attrs.get("selection").filter(|v| v.is_array()).cloned(),
            relation_field: s("relation_field"),
        }
    }
}

/// How a value read from Odoo becomes the value of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Text,
    Integer,
    Float,
    Boolean,
    Date,
    DateTime,
    /// base64 text on the wire, decoded to bytea by Postgres.
    Binary,
    Many2OneId,
    Many2OneDisplay,
    IdList,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub pg_type: &'static str,
    pub field: String,
    pub conversion: Conversion,
}

impl Column {
    /// The type under which the value travels in the page's JSON document (`json_to_recordset`).
    pub fn input_type(&self) -> &'static str {
        match self.conversion {
            Conversion::Binary => "text",
            _ => self.pg_type,
        }
    }

    /// The expression that turns the travelling value into the column's value.
    pub fn select_expr(&self, alias: &str) -> String {
        let col = format!("{alias}.{}", ident::quote(&self.name));
        match self.conversion {
            Conversion::Binary => format!("decode({col}, 'base64')"),
            _ => col,
        }
    }
}

/// A field the mapping does not copy, and why (kept in the catalog for the DBA to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub field: String,
    pub ftype: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldPlan {
    pub field: String,
    pub ftype: String,
    pub relation: Option<String>,
    pub columns: Vec<Column>,
    /// Computed by Odoo and not stored there, copied because a DBA opted it in: its value can
    /// change without write_date moving, so it is also refreshed on a schedule of its own.
    pub computed: bool,
}

/// The columns of one mirror table, in a stable order: `id` first, then fields by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub fields: Vec<FieldPlan>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("Odoo did not report an integer field \"id\" for this model")]
    NoId,
}

/// Postgres type and conversion for an Odoo field type. Unknown types are kept as jsonb: they
/// are copied as Odoo sent them rather than dropped. A float's type also depends on its digits
/// ([`column_type`]).
pub fn pg_type_for(ftype: &str) -> (&'static str, Conversion) {
    match ftype {
        "char" | "text" | "html" | "selection" | "reference" => ("text", Conversion::Text),
        "integer" | "many2one_reference" => ("integer", Conversion::Integer),
        // Amounts are numeric in Odoo's own database: as double precision, a sum of them in SQL
        // or in Django would come out as 1234.5800002. The JSON number travels as text into the
        // numeric column, so the value is the decimal Odoo sent (its shortest representation).
        "monetary" => ("numeric", Conversion::Float),
        "float" => ("double precision", Conversion::Float),
        "boolean" => ("boolean", Conversion::Boolean),
        "date" => ("date", Conversion::Date),
        "datetime" => ("timestamptz", Conversion::DateTime),
        "binary" | "image" => ("bytea", Conversion::Binary),
        "many2one" => ("integer", Conversion::Many2OneId),
        "one2many" | "many2many" => ("integer[]", Conversion::IdList),
        _ => ("jsonb", Conversion::Json),
    }
}

/// The column type of one field: by its type, and for a float by whether Odoo gives it digits
/// (then Odoo stores a numeric, otherwise a double precision, and so does the mirror).
pub fn column_type(f: &OdooField) -> (&'static str, Conversion) {
    match f.ftype.as_str() {
        "float" if f.digits.is_some() => ("numeric", Conversion::Float),
        t => pg_type_for(t),
    }
}

/// What is decided about a model's fields besides what Odoo says of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// Fields Odoo computes without storing them, copied all the same (a DBA's choice).
    pub copy_computed: BTreeSet<String>,
    /// Fields not to read, with the reason: left out by a DBA, or not readable by the sync user.
    pub left_out: BTreeMap<String, String>,
    /// Those of `left_out` that are left out only because the sync user could not read them.
    pub unreadable: BTreeSet<String>,
}

impl Choices {
    /// The sync user may read `field` again: it is no longer left out for that (a field the DBA
    /// left out stays out).
    pub fn readable_again(&mut self, field: &str) {
        if self.unreadable.remove(field) {
            self.left_out.remove(field);
        }
    }
}

/// Decide the columns of a model from its fields. Fields Odoo does not store are skipped, except
/// those named in `choices.copy_computed`, and so are the fields of `choices.left_out`.
pub fn plan_model(fields: &[OdooField], choices: &Choices) -> Result<ModelPlan, MappingError> {
    match fields.iter().find(|f| f.name == "id") {
        Some(f) if f.ftype == "integer" => {}
        _ => return Err(MappingError::NoId),
    }
    let names: BTreeSet<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let mut sorted: Vec<&OdooField> = fields.iter().collect();
    sorted.sort_by(|a, b| (a.name != "id", &a.name).cmp(&(b.name != "id", &b.name)));

    let mut plan = ModelPlan { fields: Vec::new(), skipped: Vec::new() };
    for f in sorted {
        let skip = |reason: String| Skipped { field: f.name.clone(), ftype: f.ftype.clone(), reason };
        if f.name != "id" {
            if let Some(why) = choices.left_out.get(&f.name) {
                plan.skipped.push(skip(why.clone()));
                continue;
            }
        }
        let computed = !f.store;
        if computed && !choices.copy_computed.contains(&f.name) {
            plan.skipped.push(skip(
                "computed and not stored by Odoo: it can change without write_date moving, so a mirror of it would silently go stale".into(),
            ));
            continue;
        }
        if let Err(why) = ident::valid_field_name(&f.name, ident::MAX_IDENT_BYTES) {
            plan.skipped.push(skip(format!("field name not usable as a column: {why}")));
            continue;
        }
        if f.name.starts_with(META_PREFIX) {
            plan.skipped.push(skip(format!("the prefix {META_PREFIX:?} is reserved for scrap_sga's own columns")));
            continue;
        }
        let (pg_type, conversion) = column_type(f);
        let mut columns =
            vec![Column { name: f.name.clone(), pg_type, field: f.name.clone(), conversion }];
        if conversion == Conversion::Many2OneId {
            let display = format!("{}{DISPLAY_SUFFIX}", f.name);
            // A real field of that name wins: the display name is a convenience, the field is data.
            if display.len() <= ident::MAX_IDENT_BYTES && !names.contains(display.as_str()) {
                columns.push(Column {
                    name: display,
                    pg_type: "text",
                    field: f.name.clone(),
                    conversion: Conversion::Many2OneDisplay,
                });
            }
        }
        plan.fields.push(FieldPlan {
            field: f.name.clone(),
            ftype: f.ftype.clone(),
            relation: f.relation.clone(),
            columns,
            computed,
        });
    }
    Ok(plan)
}

impl ModelPlan {
    pub fn columns(&self) -> impl Iterator<Item = &Column> {
        self.fields.iter().flat_map(|f| f.columns.iter())
    }

    /// The field names to ask `search_read` for.
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.field.clone()).collect()
    }

    /// The opted-in computed fields, with `id`: what a refresh pass reads.
    pub fn computed_field_names(&self) -> Vec<String> {
        let computed: Vec<String> = self.fields.iter().filter(|f| f.computed).map(|f| f.field.clone()).collect();
        if computed.is_empty() {
            return computed;
        }
        std::iter::once("id".to_owned()).chain(computed).collect()
    }

    /// The same plan restricted to `id` and the opted-in computed fields.
    pub fn computed_only(&self) -> ModelPlan {
        self.restricted_to(&self.fields.iter().filter(|f| f.computed).map(|f| f.field.clone()).collect::<Vec<_>>())
    }

    /// The same plan restricted to `id` and `fields` (a pass over some columns).
    pub fn restricted_to(&self, fields: &[String]) -> ModelPlan {
        ModelPlan { fields: self.fields.iter().filter(|f| f.field == "id" || fields.contains(&f.field)).cloned().collect(), skipped: Vec::new() }
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.field == name)
    }

    /// The many2ones that keep a display name, with the model each points to.
    pub fn display_columns(&self) -> Vec<DisplayColumn> {
        self.fields
            .iter()
            .filter_map(|f| {
                let id = f.columns.iter().find(|c| c.conversion == Conversion::Many2OneId)?;
                let display = f.columns.iter().find(|c| c.conversion == Conversion::Many2OneDisplay)?;
                Some(DisplayColumn { field: f.field.clone(), relation: f.relation.clone()?, id_column: id.name.clone(), display_column: display.name.clone() })
            })
            .collect()
    }
}

/// A many2one's two columns: the id of the record it points to, and that record's display name
/// as Odoo showed it, which can change without the record that points to it being written (the
/// record pointed to is renamed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayColumn {
    pub field: String,
    /// The Odoo model pointed to.
    pub relation: String,
    pub id_column: String,
    pub display_column: String,
}

/// A value that does not have the shape its field type promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?} ({ftype}): {problem}")]
pub struct ConvertError {
    pub field: String,
    pub ftype: String,
    pub problem: String,
}

fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Convert one column's value. `Ok(Value::Null)` is SQL NULL.
pub fn convert_value(conversion: Conversion, v: &Value) -> Result<Value, String> {
    use Conversion::*;
    let empty = matches!(v, Value::Null | Value::Bool(false));
    let bad = || Err(format!("unexpected {}", shape(v)));
    match conversion {
        Boolean => match v {
            Value::Bool(_) | Value::Null => Ok(v.clone()),
            _ => bad(),
        },
        _ if empty && conversion != IdList => Ok(Value::Null),
        Text => match v {
            Value::String(_) => Ok(v.clone()),
            // Selections may have integer keys.
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => bad(),
        },
        Integer => match v {
            Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => Ok(v.clone()),
            Value::Number(n) if n.is_i64() => Err(format!("{n} does not fit an integer column")),
            _ => bad(),
        },
        Float => match v {
            Value::Number(_) => Ok(v.clone()),
            _ => bad(),
        },
        Date | Binary => match v {
            Value::String(_) => Ok(v.clone()),
            _ => bad(),
        },
        // Odoo sends UTC without a zone; say so, or Postgres would read it in the session's zone.
        DateTime => match v {
            Value::String(s) => Ok(Value::String(format!("{s}+00"))),
            _ => bad(),
        },
        Many2OneId | Many2OneDisplay => {
            let (id, name) = match v {
                Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                // With some contexts Odoo sends the bare id.
                Value::Number(_) => (v, &Value::Null),
                _ => return bad(),
            };
            if conversion == Many2OneId {
                convert_value(Integer, id)
            } else {
                match name {
                    Value::String(_) | Value::Null => Ok(name.clone()),
                    Value::Bool(false) => Ok(Value::Null),
                    _ => Err(format!("unexpected display name: {}", shape(name))),
                }
            }
        }
        IdList => match v {
            Value::Array(ids) => {
                for id in ids {
                    convert_value(Integer, id)?;
                }
                Ok(v.clone())
            }
            Value::Bool(false) | Value::Null => Ok(Value::Array(vec![])),
            _ => bad(),
        },
        Json => Ok(v.clone()),
    }
}

/// Convert one record into the JSON object that travels to Postgres for it.
pub fn convert_record(plan: &ModelPlan, rec: &Map<String, Value>) -> Result<Map<String, Value>, ConvertError> {
    let mut out = Map::with_capacity(plan.fields.len() + 4);
    for f in &plan.fields {
        let v = rec.get(&f.field).unwrap_or(&Value::Null);
        for c in &f.columns {
            let converted = convert_value(c.conversion, v).map_err(|problem| ConvertError {
                field: f.field.clone(),
                ftype: f.ftype.clone(),
                problem,
            })?;
            out.insert(c.name.clone(), converted);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Choices {
        Choices::default()
    }

    fn opted(names: &[&str]) -> Choices {
        Choices { copy_computed: names.iter().map(|n| n.to_string()).collect(), ..Default::default() }
    }
    use serde_json::json;

    fn field(name: &str, ftype: &str) -> OdooField {
        OdooField { name: name.into(), ftype: ftype.into(), store: true, ..Default::default() }
    }

    fn conv(ftype: &str, v: Value) -> Result<Value, String> {
        convert_value(pg_type_for(ftype).1, &v)
    }

    #[test]
    fn every_odoo_type_has_a_column_type() {
        let expected = [
            ("char", "text"),
            ("text", "text"),
            ("html", "text"),
            ("selection", "text"),
            ("reference", "text"),
            ("integer", "integer"),
            ("many2one_reference", "integer"),
            ("float", "double precision"),
            ("monetary", "numeric"),
            ("boolean", "boolean"),
            ("date", "date"),
            ("datetime", "timestamptz"),
            ("binary", "bytea"),
            ("many2one", "integer"),
            ("one2many", "integer[]"),
            ("many2many", "integer[]"),
            ("json", "jsonb"),
            ("properties", "jsonb"),
            ("properties_definition", "jsonb"),
            ("some_future_type", "jsonb"),
        ];
        for (ftype, pg) in expected {
            assert_eq!(pg_type_for(ftype).0, pg, "{ftype}");
        }
    }

    #[test]
    fn amounts_are_numeric_as_in_odoo() {
        let attrs = |v: Value| OdooField::from_fields_get("x", &v);
        let plain = attrs(json!({"type": "float", "string": "Poids"}));
        let with_digits = attrs(json!({"type": "float", "digits": [16, 2]}));
        let bare_digits = attrs(json!({"type": "float", "digits": 0}));
        let no_digits = attrs(json!({"type": "float", "digits": false}));
        let money = attrs(json!({"type": "monetary", "currency_field": "currency_id"}));
        assert_eq!(with_digits.digits, Some(vec![16, 2]));
        assert_eq!(bare_digits.digits, Some(vec![]));
        assert_eq!((plain.digits.clone(), no_digits.digits.clone()), (None, None));
        let types: Vec<&str> = [&plain, &with_digits, &bare_digits, &no_digits, &money].iter().map(|f| column_type(f).0).collect();
        assert_eq!(types, vec!["double precision", "numeric", "numeric", "double precision", "numeric"]);
        // The value travels as the JSON number Odoo sent; Postgres reads its text as a decimal.
        assert_eq!(convert_value(column_type(&money).1, &json!(1234.58)), Ok(json!(1234.58)));
    }

    #[test]
    fn fields_get_attributes_for_the_catalog() {
        let f = OdooField::from_fields_get(
            "state",
            &json!({"type": "selection", "string": "Statut", "selection": [["draft", "Brouillon"], ["done", "Fait"]], "store": true}),
        );
        assert_eq!(f.selection, Some(json!([["draft", "Brouillon"], ["done", "Fait"]])));
        let lines = OdooField::from_fields_get("line_ids", &json!({"type": "one2many", "relation": "dimagaz.bc.line", "relation_field": "bc_id"}));
        assert_eq!((lines.relation.as_deref(), lines.relation_field.as_deref()), (Some("dimagaz.bc.line"), Some("bc_id")));
        assert!(FIELDS_GET_ATTRIBUTES.contains(&"digits") && FIELDS_GET_ATTRIBUTES.contains(&"selection"));
    }

    #[test]
    fn false_is_null_except_for_booleans() {
        for ftype in ["char", "text", "html", "selection", "reference", "integer", "float", "monetary", "date", "datetime", "binary", "many2one", "many2one_reference", "json", "properties"] {
            assert_eq!(conv(ftype, json!(false)), Ok(Value::Null), "{ftype}");
            assert_eq!(conv(ftype, Value::Null), Ok(Value::Null), "{ftype}");
        }
        assert_eq!(conv("boolean", json!(false)), Ok(json!(false)));
        assert_eq!(conv("boolean", json!(true)), Ok(json!(true)));
        assert_eq!(conv("boolean", Value::Null), Ok(Value::Null));
    }

    #[test]
    fn text_like_values() {
        assert_eq!(conv("char", json!("BC/0001")), Ok(json!("BC/0001")));
        assert_eq!(conv("char", json!("")), Ok(json!("")), "an empty string is a value, not false");
        assert_eq!(conv("html", json!("<p>x</p>")), Ok(json!("<p>x</p>")));
        assert_eq!(conv("selection", json!("draft")), Ok(json!("draft")));
        assert_eq!(conv("selection", json!(3)), Ok(json!("3")), "integer selection keys");
        assert_eq!(conv("reference", json!("res.partner,7")), Ok(json!("res.partner,7")));
        assert!(conv("char", json!([1])).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(conv("integer", json!(0)), Ok(json!(0)), "zero is a value");
        assert_eq!(conv("integer", json!(-42)), Ok(json!(-42)));
        assert!(conv("integer", json!(1.5)).is_err());
        assert!(conv("integer", json!(3_000_000_000i64)).is_err(), "overflows int4");
        assert!(conv("integer", json!("7")).is_err());
        assert_eq!(conv("float", json!(0.0)), Ok(json!(0.0)));
        assert_eq!(conv("monetary", json!(1234.5)), Ok(json!(1234.5)));
        assert_eq!(conv("float", json!(3)), Ok(json!(3)));
        assert!(conv("float", json!("1.0")).is_err());
        assert_eq!(conv("many2one_reference", json!(12)), Ok(json!(12)));
    }

    #[test]
    fn dates_and_datetimes_are_utc() {
        assert_eq!(conv("date", json!("2026-11-25")), Ok(json!("2026-11-25")));
        assert_eq!(conv("datetime", json!("2026-11-25 03:51:26")), Ok(json!("2026-11-25 03:51:26+00")));
        assert!(conv("datetime", json!(12)).is_err());
    }

    #[test]
    fn binaries_travel_as_base64_and_are_decoded_by_postgres() {
        assert_eq!(conv("binary", json!("aGVsbG8=")), Ok(json!("aGVsbG8=")));
        let c = Column { name: "f".into(), pg_type: "bytea", field: "f".into(), conversion: Conversion::Binary };
        assert_eq!(c.input_type(), "text");
        assert_eq!(c.select_expr("r"), "decode(r.\"f\", 'base64')");
    }

    #[test]
    fn many2one_keeps_id_and_display_name() {
        let v = json!([7, "Azur Gaz SARL"]);
        assert_eq!(convert_value(Conversion::Many2OneId, &v), Ok(json!(7)));
        assert_eq!(convert_value(Conversion::Many2OneDisplay, &v), Ok(json!("Azur Gaz SARL")));
        assert_eq!(convert_value(Conversion::Many2OneId, &json!(false)), Ok(Value::Null));
        assert_eq!(convert_value(Conversion::Many2OneDisplay, &json!(false)), Ok(Value::Null));
        assert_eq!(convert_value(Conversion::Many2OneId, &json!(9)), Ok(json!(9)));
        assert_eq!(convert_value(Conversion::Many2OneDisplay, &json!(9)), Ok(Value::Null));
        assert!(convert_value(Conversion::Many2OneId, &json!([1, 2, 3])).is_err());
        assert!(convert_value(Conversion::Many2OneId, &json!("x")).is_err());
    }

    #[test]
    fn x2many_are_id_lists_and_empty_stays_empty() {
        assert_eq!(conv("one2many", json!([3, 1, 2])), Ok(json!([3, 1, 2])));
        assert_eq!(conv("many2many", json!([])), Ok(json!([])));
        assert_eq!(conv("many2many", json!(false)), Ok(json!([])));
        assert!(conv("one2many", json!(["a"])).is_err());
        assert!(conv("one2many", json!(5)).is_err());
    }

    #[test]
    fn json_and_properties_are_kept_as_sent() {
        let v = json!([{"name": "color", "type": "char", "value": "red"}]);
        assert_eq!(conv("properties", v.clone()), Ok(v));
        assert_eq!(conv("json", json!({"a": [1, true]})), Ok(json!({"a": [1, true]})));
        assert_eq!(conv("json", json!(0)), Ok(json!(0)));
    }

    #[test]
    fn display_columns_are_the_many2ones_that_keep_a_name() {
        let mut partner = field("partner_id", "many2one");
        partner.relation = Some("res.partner".into());
        let mut company = field("company_id", "many2one");
        company.relation = Some("res.company".into());
        // A real field named like the display column: that many2one keeps no display name.
        let clash = field("company_id_display", "char");
        let plan = plan_model(&[field("id", "integer"), partner, company, clash, field("name", "char")], &Choices::default()).unwrap();
        let shown: Vec<(String, String, String, String)> =
            plan.display_columns().into_iter().map(|d| (d.field, d.relation, d.id_column, d.display_column)).collect();
        assert_eq!(shown, vec![("partner_id".into(), "res.partner".into(), "partner_id".into(), "partner_id_display".into())]);
    }

    #[test]
    fn plan_puts_id_first_and_adds_display_columns() {
        let mut m2o = field("partner_id", "many2one");
        m2o.relation = Some("res.partner".into());
        let plan = plan_model(&[field("name", "char"), m2o, field("id", "integer")], &none()).unwrap();
        let cols: Vec<(&str, &str)> = plan.columns().map(|c| (c.name.as_str(), c.pg_type)).collect();
        assert_eq!(
            cols,
            vec![("id", "integer"), ("name", "text"), ("partner_id", "integer"), ("partner_id_display", "text")]
        );
        assert_eq!(plan.field_names(), vec!["id", "name", "partner_id"]);
    }

    #[test]
    fn plan_skips_computed_reserved_and_hostile_fields() {
        let mut computed = field("display_name", "char");
        computed.store = false;
        let fields = [
            field("id", "integer"),
            computed,
            field("sga_synced_at", "datetime"),
            field("x\"; DROP TABLE t; --", "char"),
            field("ok", "char"),
        ];
        let plan = plan_model(&fields, &none()).unwrap();
        assert_eq!(plan.field_names(), vec!["id", "ok"]);
        let skipped: Vec<&str> = plan.skipped.iter().map(|s| s.field.as_str()).collect();
        assert_eq!(skipped, vec!["display_name", "sga_synced_at", "x\"; DROP TABLE t; --"]);
        assert!(plan.computed_field_names().is_empty());

        // Opted in by a DBA: copied, and known as computed (for its refresh pass).
        let plan = plan_model(&fields, &opted(&["display_name"])).unwrap();
        assert_eq!(plan.field_names(), vec!["id", "display_name", "ok"]);
        assert_eq!(plan.computed_field_names(), vec!["id", "display_name"]);
        assert_eq!(plan.computed_only().field_names(), vec!["id", "display_name"]);
        // Opting in a stored field changes nothing.
        let plan = plan_model(&fields, &opted(&["ok"])).unwrap();
        assert!(plan.computed_field_names().is_empty());
    }

    #[test]
    fn a_field_readable_again_is_planned_unless_the_dba_left_it_out() {
        let mut choices = Choices::default();
        choices.left_out.insert("scan".into(), "left out by the DBA".into());
        choices.left_out.insert("tag_ids".into(), "the sync user may not read it".into());
        choices.unreadable.insert("tag_ids".into());
        choices.readable_again("tag_ids");
        choices.readable_again("scan");
        assert_eq!(choices.left_out.keys().collect::<Vec<_>>(), ["scan"]);
        assert!(choices.unreadable.is_empty());
    }

    #[test]
    fn fields_left_out_are_skipped_with_their_reason() {
        let mut choices = opted(&["display_name"]);
        choices.left_out.insert("scan".into(), "left out by the DBA".into());
        choices.left_out.insert("tag_ids".into(), "the sync user may not read it".into());
        choices.left_out.insert("id".into(), "never".into());
        let mut computed = field("display_name", "char");
        computed.store = false;
        let fields = [field("id", "integer"), field("scan", "binary"), field("tag_ids", "many2many"), computed];
        let plan = plan_model(&fields, &choices).unwrap();
        assert_eq!(plan.field_names(), vec!["id", "display_name"], "id is always read");
        let skipped: Vec<(&str, &str)> = plan.skipped.iter().map(|s| (s.field.as_str(), s.reason.as_str())).collect();
        assert_eq!(skipped, vec![("scan", "left out by the DBA"), ("tag_ids", "the sync user may not read it")]);
    }

    #[test]
    fn a_real_field_wins_over_a_display_column() {
        let plan = plan_model(&[field("id", "integer"), field("user_id", "many2one"), field("user_id_display", "char")], &none()).unwrap();
        let names: Vec<&str> = plan.columns().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["id", "user_id", "user_id_display"]);
        assert_eq!(plan.columns().filter(|c| c.name == "user_id_display").count(), 1);
        assert_eq!(plan.columns().find(|c| c.name == "user_id_display").unwrap().conversion, Conversion::Text);
    }

    #[test]
    fn a_model_without_id_is_refused() {
        assert_eq!(plan_model(&[field("name", "char")], &none()), Err(MappingError::NoId));
    }

    #[test]
    fn convert_record_names_the_bad_field() {
        let plan = plan_model(&[field("id", "integer"), field("qty", "integer"), field("when", "datetime")], &none()).unwrap();
        let rec = json!({"id": 1, "qty": 2, "when": "2026-01-02 03:04:05"});
        let out = convert_record(&plan, rec.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(out), json!({"id": 1, "qty": 2, "when": "2026-01-02 03:04:05+00"}));
        let bad = json!({"id": 1, "qty": "lots", "when": false});
        let err = convert_record(&plan, bad.as_object().unwrap()).unwrap_err();
        assert_eq!(err.field, "qty");
        assert!(err.to_string().contains("\"qty\" (integer): unexpected a string"), "{err}");
    }
}
