//! The simulated database: two models whose records are computed from (seed, id, version), so
//! a million records cost a few dozen bytes each; only what tests change is stored.
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const ORDER: &str = "dimagaz.bc";
pub const LINE: &str = "dimagaz.bc.line";

/// 2026-01-01 00:00:00 UTC in microseconds: the generated records' creation time.
const BASE_US: i64 = 1_767_225_600 * 1_000_000;
/// One Odoo batch `create` stamps this many records with the same second.
const BATCH: i64 = 500;

#[derive(Clone, Debug)]
pub struct FieldDef {
    pub name: String,
    pub ftype: String,
    pub string: String,
    pub relation: Option<String>,
    pub store: bool,
    pub selection: Option<Value>,
    /// Added through the control API: its values follow its declared type, not its name.
    pub custom: bool,
}

fn fd(name: &str, ftype: &str, string: &str, relation: Option<&str>) -> FieldDef {
    FieldDef { name: name.into(), ftype: ftype.into(), string: string.into(), relation: relation.map(Into::into), store: true, selection: None, custom: false }
}

const ORDER_STATES: [(&str, &str); 4] = [("draft", "Brouillon"), ("confirmed", "Confirmé"), ("done", "Réceptionné"), ("cancel", "Annulé")];
const PRODUCTS: [&str; 6] = ["Bouteille butane 12 kg", "Bouteille propane 35 kg", "Détendeur 1,3 kg/h", "Flexible 1,5 m", "Citerne 1000 L", "Consigne bouteille 6 kg"];

fn selection(pairs: &[(&str, &str)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!([k, v])).collect())
}

fn base_fields(with_active: bool) -> Vec<FieldDef> {
    let mut v = vec![
        fd("id", "integer", "ID", None),
        fd("create_uid", "many2one", "Created by", Some("res.users")),
        fd("create_date", "datetime", "Created on", None),
        fd("write_uid", "many2one", "Last Updated by", Some("res.users")),
        fd("write_date", "datetime", "Last Updated on", None),
        FieldDef { store: false, ..fd("display_name", "char", "Display Name", None) },
    ];
    if with_active {
        v.push(fd("active", "boolean", "Active", None));
    }
    v
}

pub fn order_fields() -> Vec<FieldDef> {
    let mut v = base_fields(true);
    v.extend([
        fd("name", "char", "Référence", None),
        FieldDef { selection: Some(selection(&ORDER_STATES)), ..fd("state", "selection", "Statut", None) },
        fd("partner_id", "many2one", "Fournisseur", Some("res.partner")),
        fd("user_id", "many2one", "Acheteur", Some("res.users")),
        fd("company_id", "many2one", "Société", Some("res.company")),
        fd("currency_id", "many2one", "Devise", Some("res.currency")),
        fd("date_order", "datetime", "Date de commande", None),
        fd("date_planned", "date", "Date prévue", None),
        fd("amount_untaxed", "monetary", "Montant HT", None),
        fd("amount_total", "monetary", "Total", None),
        fd("weight", "float", "Poids (kg)", None),
        fd("priority", "integer", "Priorité", None),
        fd("is_urgent", "boolean", "Urgent", None),
        fd("notes", "text", "Notes", None),
        fd("description", "html", "Description", None),
        fd("line_ids", "one2many", "Lignes", Some(LINE)),
        fd("tag_ids", "many2many", "Étiquettes", Some("dimagaz.bc.tag")),
        fd("signature", "binary", "Signature", None),
        fd("origin_ref", "reference", "Document d'origine", None),
        fd("res_model", "char", "Modèle lié", None),
        fd("res_id", "many2one_reference", "Enregistrement lié", None),
        fd("metadata", "json", "Métadonnées", None),
        fd("properties", "properties", "Propriétés", None),
    ]);
    v
}

pub fn line_fields() -> Vec<FieldDef> {
    let mut v = base_fields(false);
    v.extend([
        fd("order_id", "many2one", "Bon de commande", Some(ORDER)),
        fd("sequence", "integer", "Séquence", None),
        fd("product_id", "many2one", "Article", Some("product.product")),
        fd("name", "text", "Description", None),
        fd("product_qty", "float", "Quantité", None),
        fd("price_unit", "float", "Prix unitaire", None),
        fd("discount", "float", "Remise (%)", None),
        fd("price_subtotal", "monetary", "Sous-total", None),
        fd("currency_id", "many2one", "Devise", Some("res.currency")),
        fd("date_planned", "date", "Date prévue", None),
        FieldDef { selection: Some(selection(&ORDER_STATES)), ..fd("state", "selection", "Statut", None) },
        fd("tax_ids", "many2many", "Taxes", Some("account.tax")),
    ]);
    v
}

#[derive(Clone, Debug)]
pub struct Rec {
    pub write_us: i64,
    pub create_us: i64,
    pub version: u32,
    pub active: bool,
    /// Values set through the control API; they win over generated ones.
    pub overrides: Option<Box<Map<String, Value>>>,
    /// A write whose transaction has not committed yet: readers still see the record as it was,
    /// until `/sim/commit` makes this version visible with the write_date it got when written.
    pub pending: Option<Box<Rec>>,
}

pub struct Model {
    pub name: &'static str,
    pub fields: Vec<FieldDef>,
    pub records: BTreeMap<i64, Rec>,
    pub next_id: i64,
}

pub struct Store {
    pub seed: u64,
    pub orders: Model,
    pub lines: Model,
    /// order id -> its line ids (kept because `line_ids` must list them).
    pub lines_of: BTreeMap<i64, BTreeSet<i64>>,
    /// line id -> its order id (the reverse of `lines_of`; a line's order is read per record).
    order_of: std::collections::HashMap<i64, i64>,
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn fmt_datetime(us: i64) -> String {
    chrono::DateTime::from_timestamp(us.div_euclid(1_000_000), 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn fmt_date(us: i64) -> String {
    chrono::DateTime::from_timestamp(us.div_euclid(1_000_000), 0).unwrap().format("%Y-%m-%d").to_string()
}

/// Parse Odoo's `YYYY-MM-DD HH:MM:SS` (or a date) into microseconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(dt.and_utc().timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros())
}

/// How far the simulated clock runs ahead of the real one (`/sim/clock`), in microseconds: tests
/// can let minutes pass without waiting them.
static CLOCK_AHEAD_US: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

pub fn advance_clock(us: i64) {
    CLOCK_AHEAD_US.fetch_add(us, std::sync::atomic::Ordering::SeqCst);
}

/// Odoo's clock: what stamps write_date and the HTTP Date header.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros() + CLOCK_AHEAD_US.load(std::sync::atomic::Ordering::SeqCst)
}

impl Model {
    fn new(name: &'static str, fields: Vec<FieldDef>) -> Model {
        Model { name, fields, records: BTreeMap::new(), next_id: 1 }
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn has_active(&self) -> bool {
        self.field("active").is_some()
    }

    /// A new write_date strictly after the record's previous one, as a database clock would give.
    pub fn bump(&mut self, id: i64) -> Option<&mut Rec> {
        let r = self.records.get_mut(&id)?;
        r.write_us = now_us().max(r.write_us + 1);
        Some(r)
    }
}

impl Store {
    pub fn new(seed: u64, n_orders: i64, n_lines: i64) -> Store {
        let mut s = Store { seed, orders: Model::new(ORDER, order_fields()), lines: Model::new(LINE, line_fields()), lines_of: BTreeMap::new(), order_of: Default::default() };
        for id in 1..=n_orders {
            // Batches of BATCH records share a second (one `create` call); a batch an hour.
            let t = BASE_US + (id / BATCH) * 3_600_000_000 + (id % BATCH) * 997;
            let active = mix(seed ^ (id as u64) ^ 0xAC71) % 20 != 0;
            s.orders.records.insert(id, Rec { write_us: t, create_us: t, version: 0, active, overrides: None, pending: None });
        }
        s.orders.next_id = n_orders + 1;
        for id in 1..=n_lines {
            let t = BASE_US + (id / BATCH) * 3_600_000_000 + (id % BATCH) * 991;
            s.lines.records.insert(id, Rec { write_us: t, create_us: t, version: 0, active: true, overrides: None, pending: None });
            if n_orders > 0 {
                let order = (id - 1) * n_orders / n_lines.max(1) + 1;
                s.link_line(id, order);
            }
        }
        s.lines.next_id = n_lines + 1;
        s
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        match name {
            ORDER => Some(&self.orders),
            LINE => Some(&self.lines),
            _ => None,
        }
    }

    pub fn model_mut(&mut self, name: &str) -> Option<&mut Model> {
        match name {
            ORDER => Some(&mut self.orders),
            LINE => Some(&mut self.lines),
            _ => None,
        }
    }

    pub fn order_of_line(&self, line: i64) -> Option<i64> {
        self.order_of.get(&line).copied()
    }

    pub fn link_line(&mut self, line: i64, order: i64) {
        self.lines_of.entry(order).or_default().insert(line);
        self.order_of.insert(line, order);
    }

    pub fn unlink_line(&mut self, line: i64) -> Option<i64> {
        let order = self.order_of.remove(&line)?;
        if let Some(set) = self.lines_of.get_mut(&order) {
            set.remove(&line);
        }
        Some(order)
    }

    /// The value Odoo would send for one field of one record.
    pub fn value(&self, model: &Model, id: i64, rec: &Rec, f: &FieldDef) -> Value {
        if let Some(v) = rec.overrides.as_ref().and_then(|o| o.get(&f.name)) {
            return v.clone();
        }
        let h = mix(self.seed ^ mix((id as u64) << 8 ^ (rec.version as u64) << 40 ^ hash_str(&f.name) ^ hash_str(model.name)));
        if f.custom {
            return generated_value(&f.ftype, h, id);
        }
        let is_order = model.name == ORDER;
        match f.name.as_str() {
            "id" => json!(id),
            "create_date" => json!(fmt_datetime(rec.create_us)),
            "write_date" => json!(fmt_datetime(rec.write_us)),
            "create_uid" => json!([2, "Administrator"]),
            "write_uid" => json!(if rec.version == 0 { json!([2, "Administrator"]) } else { json!([6, "Karim Benali"]) }),
            "active" => json!(rec.active),
            "display_name" => json!(if is_order { format!("BC/{id:05}") } else { format!("BC/{:05} - ligne {id}", self.order_of_line(id).unwrap_or(0)) }),
            "name" if is_order => json!(format!("BC/{id:05}")),
            "name" => json!(format!("{} (lot {})", PRODUCTS[(h % 6) as usize], h % 1000)),
            "state" => json!(ORDER_STATES[(h % 4) as usize].0),
            "partner_id" => {
                let p = 1 + h % 200;
                json!([p, format!("Fournisseur {p} SARL")])
            }
            "user_id" if h % 5 == 0 => json!(false),
            "user_id" => json!([6 + h % 4, format!("Acheteur {}", h % 4)]),
            "company_id" => json!([1, "Dimagaz"]),
            "currency_id" => if h % 3 == 0 { json!([1, "EUR"]) } else { json!([111, "MAD"]) },
            "date_order" => json!(fmt_datetime(rec.create_us - (h % 86_400) as i64 * 1_000_000)),
            "date_planned" if h % 4 == 0 => json!(false),
            "date_planned" => json!(fmt_date(rec.create_us + (h % 60) as i64 * 86_400_000_000)),
            "amount_untaxed" => json!((h % 10_000_000) as f64 / 100.0),
            "amount_total" => json!(((h % 10_000_000) as f64 * 1.2).round() / 100.0),
            "weight" => json!((h % 100_000) as f64 / 8.0),
            "priority" => json!((h % 4) as i64),
            "is_urgent" => json!(h % 7 == 0),
            "notes" if h % 3 == 0 => json!(false),
            "notes" => json!(format!("Livraison à l'entrepôt \"Nord\" — quai {}\nMerci.", h % 9)),
            "description" => json!(format!("<p>Commande <b>{id}</b> &amp; suivi</p>")),
            "line_ids" => json!(self.lines_of.get(&id).map(|s| s.iter().copied().collect::<Vec<_>>()).unwrap_or_default()),
            "tag_ids" => json!((0..h % 4).map(|k| 1 + (h >> (8 * k)) % 9).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()),
            "signature" if h % 2 == 0 => json!(false),
            "signature" => json!(base64(&format!("sig-{id}-{}", h % 1000))),
            "origin_ref" if h % 2 == 0 => json!(false),
            "origin_ref" => json!(format!("sale.order,{}", h % 5000)),
            "res_model" => json!("res.partner"),
            "res_id" => json!((h % 200) as i64),
            "metadata" if h % 5 == 0 => json!(false),
            "metadata" => json!({"source": "sim", "batch": id / BATCH, "flags": [h % 2 == 0, h % 3 == 0]}),
            "properties" => {
                let colour = ["rouge", "vert", "bleu"][(h % 3) as usize];
                json!([{"name": "couleur", "type": "char", "string": "Couleur", "value": colour}])
            }
            "order_id" => match self.order_of_line(id) {
                Some(o) => json!([o, format!("BC/{o:05}")]),
                None => json!(false),
            },
            "sequence" => json!((h % 100) as i64),
            "product_id" => {
                let p = h % 6;
                json!([100 + p, PRODUCTS[p as usize]])
            }
            "product_qty" => json!((1 + h % 50) as f64),
            "price_unit" => json!((h % 100_000) as f64 / 100.0),
            "discount" => json!([0.0, 5.0, 10.0, 12.5][(h % 4) as usize]),
            "price_subtotal" => json!((h % 1_000_000) as f64 / 100.0),
            "tax_ids" => if h % 2 == 0 { json!([1]) } else { json!([1, 3]) },
            // Fields added through the control API get a value of their type.
            _ => generated_value(&f.ftype, h, id),
        }
    }

    /// A record as `search_read` returns it, restricted to `fields` (all stored and computed
    /// fields when `fields` is empty, as Odoo does).
    pub fn render(&self, model: &Model, id: i64, rec: &Rec, fields: &[&FieldDef]) -> Map<String, Value> {
        let mut m = Map::with_capacity(fields.len() + 1);
        m.insert("id".into(), json!(id));
        for f in fields {
            if f.name != "id" {
                m.insert(f.name.clone(), self.value(model, id, rec, f));
            }
        }
        m
    }
}

fn generated_value(ftype: &str, h: u64, id: i64) -> Value {
    match ftype {
        "char" | "text" | "html" => json!(format!("valeur {id}-{}", h % 100)),
        "integer" => json!((h % 1000) as i64),
        "float" | "monetary" => json!((h % 10_000) as f64 / 4.0),
        "boolean" => json!(h % 2 == 0),
        "date" => json!("2026-06-15"),
        "datetime" => json!("2026-06-15 08:30:00"),
        "many2one" => json!([1 + h % 10, format!("Enregistrement {}", 1 + h % 10)]),
        "one2many" | "many2many" => json!([1 + h % 10]),
        "selection" => json!("a"),
        _ => json!(false),
    }
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

pub fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | (c as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64("hello"), "aGVsbG8=");
        assert_eq!(base64("hi!"), "aGkh");
        assert_eq!(base64("a"), "YQ==");
    }

    #[test]
    fn data_is_deterministic_and_batched() {
        let a = Store::new(7, 10, 30);
        let b = Store::new(7, 10, 30);
        let f = a.orders.field("amount_total").unwrap().clone();
        for id in 1..=10 {
            assert_eq!(a.value(&a.orders, id, &a.orders.records[&id], &f), b.value(&b.orders, id, &b.orders.records[&id], &f));
        }
        assert_eq!(a.lines_of.values().map(|s| s.len()).sum::<usize>(), 30);
        assert_eq!(fmt_datetime(a.orders.records[&1].write_us), fmt_datetime(a.orders.records[&2].write_us), "same second, as a batch create");
        assert_ne!(a.orders.records[&1].write_us, a.orders.records[&2].write_us, "but distinct microseconds");
    }
}
