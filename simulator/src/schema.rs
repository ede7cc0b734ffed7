//! Schemas: models described by real `fields_get` documents. (The values their fields get are
//! `data::typed`'s.)
//!
//! A schema document is `{"models": {"<model>": {"label", "records", "fields": <fields_get>}},
//! "labels": {"<model>": "<its description>"}}`; `labels` names the related models that are not
//! served (the text of an AccessError names them). Three are built in (`simulator/schemas/`):
//! `default` (the historical dimagaz models, whose values keep their hand-written generators),
//! `variant` (the same models as another customer's Odoo may define them) and `partner` (a real
//! Odoo 19 `res.partner`). Every other model's values follow its fields' TYPES, with the wire facts
//! of a real Odoo (integer and float are never `false`, many2one is `[id, "name"]`, ...).
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct FieldDef {
    pub name: String,
    pub ftype: String,
    pub string: String,
    pub relation: Option<String>,
    /// The many2one of `relation` a one2many lists its records by.
    pub relation_field: Option<String>,
    pub store: bool,
    pub selection: Option<Value>,
    /// `[precision, scale]`: the field's values are rounded to `scale` decimals.
    pub digits: Option<(u32, u32)>,
    /// The document's other attributes (`readonly`, `help`, ...), served by fields_get as given.
    pub attrs: Option<Arc<Map<String, Value>>>,
    /// Added through the control API: its values follow its declared type, not its name.
    pub custom: bool,
}

impl FieldDef {
    pub fn new(name: &str, ftype: &str, string: &str, relation: Option<&str>) -> FieldDef {
        FieldDef {
            name: name.into(),
            ftype: ftype.into(),
            string: string.into(),
            relation: relation.map(Into::into),
            relation_field: None,
            store: true,
            selection: None,
            digits: None,
            attrs: None,
            custom: false,
        }
    }

    /// One entry of a `fields_get` document.
    pub fn from_doc(name: &str, a: &Value) -> Result<FieldDef, String> {
        let s = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
        let ftype = s("type").ok_or_else(|| format!("field {name}: no type"))?;
        let digits = a.get("digits").and_then(Value::as_array).and_then(|d| Some((d.first()?.as_u64()? as u32, d.get(1)?.as_u64()? as u32)));
        let mut attrs = a.as_object().cloned().unwrap_or_default();
        attrs.remove("name");
        Ok(FieldDef {
            name: name.to_owned(),
            string: s("string").unwrap_or_else(|| name.to_owned()),
            relation: s("relation"),
            relation_field: s("relation_field"),
            store: a.get("store").and_then(Value::as_bool).unwrap_or(true),
            selection: a.get("selection").filter(|v| v.is_array()).cloned(),
            digits,
            attrs: Some(Arc::new(attrs)),
            custom: false,
            ftype,
        })
    }

    fn is_x2many(&self) -> bool {
        self.ftype == "one2many" || self.ftype == "many2many"
    }

    /// A one2many or many2many to `model`: reading it reads `model`'s records.
    pub fn reads_model(&self, model: &str) -> bool {
        self.is_x2many() && self.relation.as_deref() == Some(model)
    }
}

pub struct ModelDoc {
    pub name: String,
    pub records: i64,
    pub fields: Vec<FieldDef>,
}

pub struct Schema {
    pub name: String,
    pub models: Vec<ModelDoc>,
    /// Model -> its description (`_description`), for models served or only related to.
    pub labels: BTreeMap<String, String>,
}

pub const BUILTIN: [(&str, &str); 3] = [
    ("default", include_str!("../schemas/default.json")),
    ("variant", include_str!("../schemas/variant.json")),
    ("partner", include_str!("../schemas/partner.json")),
];

pub fn builtin(name: &str) -> Result<Schema, String> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| format!("no schema {name:?}: default, variant or partner"))?;
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("schema {name}: {e}"))?;
    parse(name, &doc)
}

pub fn parse(name: &str, doc: &Value) -> Result<Schema, String> {
    let models = doc["models"].as_object().ok_or("a schema has a models object")?;
    let mut labels: BTreeMap<String, String> =
        doc["labels"].as_object().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()).unwrap_or_default();
    let mut out = Vec::new();
    for (model, m) in models {
        labels.insert(model.clone(), m["label"].as_str().unwrap_or(model).to_owned());
        let records = m["records"].as_i64().unwrap_or(1000);
        out.push(ModelDoc { name: model.clone(), records, fields: fields_from_doc(&m["fields"])? });
    }
    Ok(Schema { name: name.to_owned(), models: out, labels })
}

/// The fields of a `fields_get` document, with the ones every Odoo model has added when missing.
pub fn fields_from_doc(doc: &Value) -> Result<Vec<FieldDef>, String> {
    let doc = doc.as_object().ok_or("fields is a fields_get document: an object by field name")?;
    let mut fields: Vec<FieldDef> = doc.iter().map(|(n, a)| FieldDef::from_doc(n, a)).collect::<Result<_, _>>()?;
    let magic = [("id", "integer", "ID"), ("create_date", "datetime", "Created on"), ("write_date", "datetime", "Last Updated on"), ("display_name", "char", "Display Name")];
    for (name, ftype, string) in magic {
        if !fields.iter().any(|f| f.name == name) {
            let store = name != "display_name";
            fields.push(FieldDef { store, ..FieldDef::new(name, ftype, string, None) });
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_schemas_parse() {
        let d = builtin("default").unwrap();
        assert_eq!(d.models.len(), 2);
        let v = builtin("variant").unwrap();
        let bc = v.models.iter().find(|m| m.name == "dimagaz.bc").unwrap();
        assert!(bc.fields.iter().any(|f| f.name == "ligne_ids" && f.relation_field.as_deref() == Some("bc_id")));
        assert!(!bc.fields.iter().any(|f| f.name == "date_order"));
        let line = v.models.iter().find(|m| m.name == "dimagaz.bc.line").unwrap();
        assert_eq!(line.fields.iter().find(|f| f.name == "quantite").unwrap().digits, Some((16, 3)));
        let p = builtin("partner").unwrap();
        assert_eq!(p.models[0].fields.len(), 73, "the real document's 73 fields");
        assert_eq!(p.labels["res.partner.category"], "Partner Tags");
        assert!(builtin("nope").is_err());
    }

    #[test]
    fn missing_magic_fields_are_added() {
        let f = fields_from_doc(&json!({"x_a": {"type": "char", "string": "A"}})).unwrap();
        for n in ["id", "create_date", "write_date", "display_name", "x_a"] {
            assert!(f.iter().any(|x| x.name == n), "{n}");
        }
        assert!(!f.iter().find(|x| x.name == "display_name").unwrap().store);
    }
}
