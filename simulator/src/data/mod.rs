//! The simulated database: models whose records are computed from (seed, model, id, version,
//! field), so a million records cost a few dozen bytes each; only what tests change is stored.
//! Which models, and their fields, come from a schema (`schema.rs`).
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::schema::FieldDef;
use crate::schema::{ModelDoc, Schema};

mod index;
mod typed;

pub use index::Sums;

pub const ORDER: &str = "dimagaz.bc";
pub const LINE: &str = "dimagaz.bc.line";

/// 2026-01-01 00:00:00 UTC in microseconds: the generated records' creation time.
const BASE_US: i64 = 1_767_225_600 * 1_000_000;
/// One Odoo batch `create` stamps this many records with the same second.
const BATCH: i64 = 500;

const ORDER_STATES: [&str; 4] = ["draft", "confirmed", "done", "cancel"];
const PRODUCTS: [&str; 6] = ["Bouteille butane 12 kg", "Bouteille propane 35 kg", "Détendeur 1,3 kg/h", "Flexible 1,5 m", "Citerne 1000 L", "Consigne bouteille 6 kg"];

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
    pub name: String,
    pub fields: Vec<FieldDef>,
    /// Changed only through `update`, `insert` and `remove`, which keep `index` up to date.
    records: BTreeMap<i64, Rec>,
    index: index::Index,
    pub next_id: i64,
    /// Values follow the fields' types (`typed::typed_value`); false for the default schema's
    /// dimagaz models, whose values come from hand-written generators many tests compare against.
    pub typed: bool,
    /// `/sim/heavy`: field -> record -> the size in bytes of its binary value.
    pub heavy: BTreeMap<String, BTreeMap<i64, u64>>,
    /// `/sim/poison`: records Odoo fails on when it reads them.
    pub poisoned: BTreeMap<i64, Poison>,
    /// `/sim/rules`: records the user's record rules hide: left out of every search, and an
    /// AccessError when read by id.
    pub hidden: std::collections::BTreeSet<i64>,
}

/// How reading a poisoned record fails (`/sim/poison`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Poison {
    /// An exception in Odoo's code (a compute raising ValueError on the record's data).
    Error,
    /// A float field holds NaN, which Python writes as `NaN`: the answer is not JSON.
    NaN,
}

/// What a NaN value is rendered as, until the answer's bytes are made (`http::Reply::json`).
pub const NAN_MARKER: &str = "\u{1}sim NaN\u{1}";
/// Whether a NaN was ever rendered: only then do answers' bytes get looked through for it.
pub static NAN_RENDERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A many2one between two served models that a one2many of the parent lists back
/// (`relation_field`): kept both ways, since the one2many must list the children.
pub struct Link {
    pub child: String,
    pub field: String,
    pub parent: String,
    /// The parent's one2many.
    pub inverse: String,
    /// By child id (ids are dense: a vector, a quarter of a hash map's memory, and read in the
    /// order a page reads its records); `NO_PARENT` for none.
    parent_of: Vec<i64>,
    children: BTreeMap<i64, BTreeSet<i64>>,
}

const NO_PARENT: i64 = i64::MIN;

impl Link {
    pub fn parent_of(&self, child: i64) -> Option<i64> {
        usize::try_from(child).ok().and_then(|c| self.parent_of.get(c)).copied().filter(|p| *p != NO_PARENT)
    }

    pub fn children(&self, parent: i64) -> Vec<i64> {
        self.children.get(&parent).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    fn link(&mut self, child: i64, parent: i64) {
        self.children.entry(parent).or_default().insert(child);
        let c = usize::try_from(child).expect("ids are positive");
        if c >= self.parent_of.len() {
            self.parent_of.resize(c + 1, NO_PARENT);
        }
        self.parent_of[c] = parent;
    }

    fn unlink(&mut self, child: i64) -> Option<i64> {
        let parent = self.parent_of(child)?;
        self.parent_of[child as usize] = NO_PARENT;
        if let Some(set) = self.children.get_mut(&parent) {
            set.remove(&child);
        }
        Some(parent)
    }
}

/// A deleted record, for `/sim/restore`: with the parents it was linked to (link index, parent).
pub struct Grave {
    pub model: String,
    pub id: i64,
    pub rec: Rec,
    pub links: Vec<(usize, i64)>,
}

/// How many records each model of a schema gets.
#[derive(Debug, Default, Clone)]
pub struct Sizes {
    /// `--orders` / `orders`: dimagaz.bc, whatever the schema.
    pub orders: Option<i64>,
    /// `--lines` / `lines`: dimagaz.bc.line.
    pub lines: Option<i64>,
    /// `--records N` / `records: N`: every other model.
    pub all: Option<i64>,
    /// `records: {model: N}`: per model, first.
    pub each: BTreeMap<String, i64>,
    /// When nothing above names the model: its document's count (CLI) or 0 (reset, as always).
    pub from_document: bool,
}

impl Sizes {
    /// `{orders, lines, records: N | {model: N}}`, as `/sim/reset` takes them.
    pub fn from_json(v: &Value) -> Sizes {
        Sizes {
            orders: v["orders"].as_i64(),
            lines: v["lines"].as_i64(),
            all: v["records"].as_i64(),
            each: v["records"].as_object().map(|m| m.iter().filter_map(|(k, n)| Some((k.clone(), n.as_i64()?))).collect()).unwrap_or_default(),
            from_document: false,
        }
    }

    fn of(&self, m: &ModelDoc) -> i64 {
        let named = match m.name.as_str() {
            ORDER => self.orders,
            LINE => self.lines,
            _ => None,
        };
        self.each.get(&m.name).copied().or(named).or(self.all).unwrap_or(if self.from_document { m.records } else { 0 })
    }
}

pub struct Store {
    pub seed: u64,
    /// The schema served (`default`, `variant`, `partner`, or a document's name).
    pub schema: String,
    pub models: BTreeMap<String, Model>,
    pub links: Vec<Link>,
    /// Model -> description, for related models too.
    pub labels: BTreeMap<String, String>,
    pub graveyard: Vec<Grave>,
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The parent of child `id` when `children` children are spread evenly over `parents` parents,
/// in id order (the historical lines over their orders); a child created later wraps around.
fn spread(id: i64, children: i64, parents: i64) -> Option<i64> {
    (parents > 0 && id > 0).then(|| (id - 1) % children.max(1) * parents / children.max(1) + 1)
}

pub fn fmt_datetime(us: i64) -> String {
    chrono::DateTime::from_timestamp(us.div_euclid(1_000_000), 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn fmt_date(us: i64) -> String {
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
    pub fn new(name: &str, fields: Vec<FieldDef>, typed: bool) -> Model {
        let records = BTreeMap::new();
        Model { name: name.to_owned(), fields, index: index::Index::build(&records), records, next_id: 1, typed, heavy: BTreeMap::new(), poisoned: BTreeMap::new(), hidden: Default::default() }
    }

    pub fn records(&self) -> &BTreeMap<i64, Rec> {
        &self.records
    }

    /// Change record `id` through `change` (None: no such record).
    pub fn update<T>(&mut self, id: i64, change: impl FnOnce(&mut Rec) -> T) -> Option<T> {
        let r = self.records.get_mut(&id)?;
        let before = (r.write_us, r.active);
        let out = change(r);
        let after = (r.write_us, r.active);
        self.index.changed(&self.records, id, Some(before), Some(after));
        Some(out)
    }

    fn insert(&mut self, id: i64, rec: Rec) {
        let entry = (rec.write_us, rec.active);
        let before = self.records.insert(id, rec).map(|r| (r.write_us, r.active));
        self.index.changed(&self.records, id, before, Some(entry));
    }

    fn remove(&mut self, id: i64) -> Option<Rec> {
        let rec = self.records.remove(&id)?;
        self.index.changed(&self.records, id, Some((rec.write_us, rec.active)), None);
        Some(rec)
    }

    /// The count, id sum and newest write_date of the records whose id is in `[lo, hi]` (the
    /// active ones only if `active_only`), from the index; `visit` is called for each record
    /// looked at on the way.
    pub fn sums(&self, ids: (i64, i64), active_only: bool, visit: impl FnMut()) -> Sums {
        self.index.sums(&self.records, ids, active_only, visit)
    }

    /// The `(write_us, id)` of the records written in `[from, to)` microseconds, oldest first.
    pub fn written(&self, window: (i64, i64)) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.index.written(window)
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn has_active(&self) -> bool {
        self.field("active").is_some()
    }

    /// A write of record `id`: a new write_date strictly after its previous one, as a database
    /// clock would give, then `change` (None: no such record).
    pub fn bump<T>(&mut self, id: i64, change: impl FnOnce(&mut Rec) -> T) -> Option<T> {
        self.update(id, |r| {
            r.write_us = now_us().max(r.write_us + 1);
            change(r)
        })
    }

    pub fn heavy_size(&self, field: &str, id: i64) -> Option<u64> {
        self.heavy.get(field).and_then(|m| m.get(&id)).copied()
    }

    /// `n` generated records; `spacing` staggers the microseconds of models created side by side.
    fn generate(&mut self, seed: u64, n: i64, spacing: i64) {
        let with_active = self.has_active();
        // Built at once (collected in id order), the map's nodes are full.
        self.records = (1..=n)
            .map(|id| {
                // Batches of BATCH records share a second (one `create` call); a batch an hour.
                let t = BASE_US + (id / BATCH) * 3_600_000_000 + (id % BATCH) * spacing;
                let active = !with_active || !mix(seed ^ (id as u64) ^ 0xAC71).is_multiple_of(20);
                (id, Rec { write_us: t, create_us: t, version: 0, active, overrides: None, pending: None })
            })
            .collect();
        self.index = index::Index::build(&self.records);
        self.next_id = n + 1;
    }
}

impl Store {
    /// The default schema, as the simulator always served it.
    #[cfg(test)]
    pub fn new(seed: u64, n_orders: i64, n_lines: i64) -> Store {
        let sizes = Sizes { orders: Some(n_orders), lines: Some(n_lines), ..Default::default() };
        Store::build(seed, crate::schema::builtin("default").expect("the built-in schema parses"), &sizes)
    }

    pub fn build(seed: u64, schema: Schema, sizes: &Sizes) -> Store {
        let typed = schema.name != "default";
        let mut s = Store { seed, schema: schema.name.clone(), models: BTreeMap::new(), links: Vec::new(), labels: schema.labels, graveyard: Vec::new() };
        for (i, doc) in schema.models.iter().enumerate() {
            let mut m = Model::new(&doc.name, doc.fields.clone(), typed);
            m.generate(seed, sizes.of(doc), 997 - 6 * i as i64);
            s.models.insert(doc.name.clone(), m);
        }
        s.find_links();
        s
    }

    /// A model added from a document (`/sim/model/load`); it replaces one of the same name.
    pub fn load_model(&mut self, name: &str, label: &str, fields: Vec<FieldDef>, n: i64) {
        let mut m = Model::new(name, fields, true);
        m.generate(self.seed, n, 997 - 6 * self.models.len() as i64);
        self.labels.insert(name.to_owned(), label.to_owned());
        self.models.insert(name.to_owned(), m);
        self.links.retain(|l| l.child != name && l.parent != name);
        self.find_links();
    }

    /// Every one2many whose `relation_field` is a many2one back to its model, among the models
    /// served, becomes a link; its children are spread over the parents like the historical lines
    /// over their orders (a model linked to itself: every fourth record has a parent).
    fn find_links(&mut self) {
        let mut found = Vec::new();
        for parent in self.models.values() {
            for o2m in parent.fields.iter().filter(|f| f.ftype == "one2many") {
                let (Some(child), Some(field)) = (o2m.relation.as_deref(), o2m.relation_field.as_deref()) else { continue };
                let Some(child_model) = self.models.get(child) else { continue };
                let back = child_model.field(field).is_some_and(|f| f.ftype == "many2one" && f.relation.as_deref() == Some(&parent.name));
                if back && !self.links.iter().any(|l| l.child == child && l.field == field) {
                    found.push((child.to_owned(), field.to_owned(), parent.name.clone(), o2m.name.clone()));
                }
            }
        }
        for (child, field, parent, inverse) in found {
            let n_parents = self.models[&parent].next_id - 1;
            let n_children = self.models[&child].next_id - 1;
            let mut link = Link { child, field, parent, inverse, parent_of: vec![NO_PARENT; n_children as usize + 1], children: BTreeMap::new() };
            for id in 1..=n_children {
                let parent = if link.child == link.parent { (id % 4 == 0).then_some(id / 4) } else { spread(id, n_children, n_parents) };
                if let Some(p) = parent {
                    link.link(id, p);
                }
            }
            self.links.push(link);
        }
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    pub fn model_mut(&mut self, name: &str) -> Option<&mut Model> {
        self.models.get_mut(name)
    }

    /// The link kept for `child.field`, if that many2one has a one2many back.
    pub fn link(&self, child: &str, field: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.child == child && l.field == field)
    }

    /// A line's order (the default schema's link).
    pub fn order_of_line(&self, line: i64) -> Option<i64> {
        self.link(LINE, "order_id").and_then(|l| l.parent_of(line))
    }

    pub fn label(&self, model: &str) -> String {
        self.labels.get(model).cloned().unwrap_or_else(|| model.to_owned())
    }

    /// What a many2one to this record shows, and its `display_name`.
    pub fn display_name(&self, model: &str, id: i64) -> String {
        let m = self.models.get(model);
        match model {
            ORDER if m.is_some_and(|m| !m.typed) => format!("BC/{id:05}"),
            LINE if m.is_some_and(|m| !m.typed) => format!("BC/{:05} - ligne {id}", self.order_of_line(id).unwrap_or(0)),
            _ => {
                let named = m.and_then(|m| m.records.get(&id)).and_then(|r| r.overrides.as_ref()).and_then(|o| o.get("name")).and_then(Value::as_str);
                named.map(str::to_owned).unwrap_or_else(|| format!("{} {id}", self.label(model)))
            }
        }
    }

    /// A many2one of a typed model: its link, a record of a served model, or a made-up one.
    pub fn many2one(&self, model: &Model, id: i64, f: &FieldDef, h: u64) -> Value {
        let Some(rel) = f.relation.as_deref() else { return json!(false) };
        let target = if let Some(link) = self.link(&model.name, &f.name) {
            link.parent_of(id)
        } else if let Some(target) = self.models.get(rel) {
            let n = target.next_id - 1;
            // To itself: an earlier record; to another model: spread as children over parents.
            let p = if rel == model.name { (id > 1).then(|| 1 + (h % (id as u64 - 1)) as i64) } else { spread(id, model.next_id - 1, n) };
            p.filter(|p| target.records.contains_key(p))
        } else if h.is_multiple_of(5) {
            None
        } else {
            let n = (1 + h % 50) as i64;
            return json!([n, format!("{} {n}", self.label(rel))]);
        };
        match target {
            Some(p) => json!([p, self.display_name(rel, p)]),
            None => json!(false),
        }
    }

    /// A one2many of a typed model: the children of its link, or made-up ids.
    pub fn one2many(&self, model: &Model, id: i64, f: &FieldDef, h: u64) -> Value {
        if let Some(link) = self.links.iter().find(|l| l.parent == model.name && l.inverse == f.name) {
            return json!(link.children(id));
        }
        let served = f.relation.as_deref().is_some_and(|r| self.models.contains_key(r));
        if served || h.is_multiple_of(3) {
            return json!([]);
        }
        json!(typed::id_list(h))
    }

    /// The value Odoo would send for one field of one record.
    pub fn value(&self, model: &Model, id: i64, rec: &Rec, f: &FieldDef) -> Value {
        if let Some(v) = rec.overrides.as_ref().and_then(|o| o.get(&f.name)) {
            return v.clone();
        }
        let h = mix(self.seed ^ mix((id as u64) << 8 ^ (rec.version as u64) << 40 ^ hash_str(&f.name) ^ hash_str(&model.name)));
        if f.custom && !model.typed {
            return generated_value(&f.ftype, h, id);
        }
        match f.name.as_str() {
            "id" => return json!(id),
            "create_date" => return json!(fmt_datetime(rec.create_us)),
            "write_date" => return json!(fmt_datetime(rec.write_us)),
            "create_uid" => return json!([2, "Administrator"]),
            "write_uid" => return if rec.version == 0 { json!([2, "Administrator"]) } else { json!([6, "Karim Benali"]) },
            "active" => return json!(rec.active),
            "display_name" => return json!(self.display_name(&model.name, id)),
            _ => {}
        }
        if model.typed {
            return typed::typed_value(self, model, id, rec, f, h);
        }
        self.handwritten(model, id, rec, f, h)
    }

    /// The default schema's dimagaz values, as the simulator always generated them.
    fn handwritten(&self, model: &Model, id: i64, rec: &Rec, f: &FieldDef, h: u64) -> Value {
        let is_order = model.name == ORDER;
        match f.name.as_str() {
            "name" if is_order => json!(format!("BC/{id:05}")),
            "name" => json!(format!("{} (lot {})", PRODUCTS[(h % 6) as usize], h % 1000)),
            "state" => json!(ORDER_STATES[(h % 4) as usize]),
            "partner_id" => {
                let p = 1 + h % 200;
                json!([p, format!("Fournisseur {p} SARL")])
            }
            "user_id" if h.is_multiple_of(5) => json!(false),
            "user_id" => json!([6 + h % 4, format!("Acheteur {}", h % 4)]),
            "company_id" => json!([1, "Dimagaz"]),
            "currency_id" => if h.is_multiple_of(3) { json!([1, "EUR"]) } else { json!([111, "MAD"]) },
            "date_order" => json!(fmt_datetime(rec.create_us - (h % 86_400) as i64 * 1_000_000)),
            "date_planned" if h.is_multiple_of(4) => json!(false),
            "date_planned" => json!(fmt_date(rec.create_us + (h % 60) as i64 * 86_400_000_000)),
            "amount_untaxed" => json!((h % 10_000_000) as f64 / 100.0),
            "amount_total" => json!(((h % 10_000_000) as f64 * 1.2).round() / 100.0),
            "weight" => json!((h % 100_000) as f64 / 8.0),
            "priority" => json!((h % 4) as i64),
            "is_urgent" => json!(h.is_multiple_of(7)),
            "notes" if h.is_multiple_of(3) => json!(false),
            "notes" => json!(format!("Livraison à l'entrepôt \"Nord\" — quai {}\nMerci.", h % 9)),
            "description" => json!(format!("<p>Commande <b>{id}</b> &amp; suivi</p>")),
            "line_ids" => json!(self.link(LINE, "order_id").map(|l| l.children(id)).unwrap_or_default()),
            "tag_ids" => json!((0..h % 4).map(|k| 1 + (h >> (8 * k)) % 9).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()),
            "signature" if h.is_multiple_of(2) && model.heavy_size("signature", id).is_none() => json!(false),
            "signature" => match model.heavy_size("signature", id) {
                Some(n) => json!(typed::heavy_base64(n, h)),
                None => json!(base64(&format!("sig-{id}-{}", h % 1000))),
            },
            "origin_ref" if h.is_multiple_of(2) => json!(false),
            "origin_ref" => json!(format!("sale.order,{}", h % 5000)),
            "res_model" => json!("res.partner"),
            "res_id" => json!((h % 200) as i64),
            "metadata" if h.is_multiple_of(5) => json!(false),
            "metadata" => json!({"source": "sim", "batch": id / BATCH, "flags": [h.is_multiple_of(2), h.is_multiple_of(3)]}),
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
            "tax_ids" => if h.is_multiple_of(2) { json!([1]) } else { json!([1, 3]) },
            // Fields added through the control API get a value of their type.
            _ => generated_value(&f.ftype, h, id),
        }
    }

    /// A record as `search_read` returns it, restricted to `fields` (all stored and computed
    /// fields when `fields` is empty, as Odoo does).
    pub fn render(&self, model: &Model, id: i64, rec: &Rec, fields: &[&FieldDef]) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        for f in fields {
            if f.name != "id" {
                m.insert(f.name.clone(), self.value(model, id, rec, f));
            }
        }
        m
    }

    /// A new record, now. `values` naming a linked many2one choose its parent (by default the
    /// first one, as a line added to order 1); the parent is written too, as when the child is
    /// added through the parent's form.
    pub fn create(&mut self, model: &str, mut values: Map<String, Value>) -> Result<i64, String> {
        let m = self.models.get(model).ok_or("unknown model")?;
        let new_id = m.next_id;
        let mut parents = Vec::new();
        for (i, l) in self.links.iter().enumerate().filter(|(_, l)| l.child == model) {
            let given = values.remove(&l.field).and_then(|v| v.as_i64().or_else(|| v.get(0).and_then(Value::as_i64)));
            let first = self.models[&l.parent].records.keys().next().copied();
            if let Some(p) = given.or(if l.parent == model { None } else { first.or(Some(1)) }) {
                parents.push((i, p));
            }
        }
        let t = now_us();
        let m = self.models.get_mut(model).expect("checked above");
        m.next_id += 1;
        m.insert(new_id, Rec { write_us: t, create_us: t, version: 0, active: true, overrides: Some(Box::new(values)), pending: None });
        for (i, p) in parents {
            self.links[i].link(new_id, p);
            let parent = self.links[i].parent.clone();
            self.models.get_mut(&parent).and_then(|m| m.bump(p, |_| ()));
        }
        Ok(new_id)
    }

    /// Delete a record, and the records whose linked many2one points to it (`ondelete=cascade`,
    /// as an order's lines); deleting a child writes its parent (the one2many changed).
    pub fn delete(&mut self, model: &str, id: i64) -> Result<(), String> {
        let mut work = vec![(model.to_owned(), id, true)];
        while let Some((m, id, direct)) = work.pop() {
            let Some(rec) = self.models.get_mut(&m).and_then(|x| x.remove(id)) else {
                if direct {
                    return Err("no such record".into());
                }
                continue;
            };
            let mut parents = Vec::new();
            for (i, l) in self.links.iter_mut().enumerate().filter(|(_, l)| l.child == m) {
                if let Some(p) = l.unlink(id) {
                    parents.push((i, p));
                }
            }
            if direct {
                for (i, p) in &parents {
                    let parent = self.links[*i].parent.clone();
                    self.models.get_mut(&parent).and_then(|x| x.bump(*p, |_| ()));
                }
            }
            for l in self.links.iter().filter(|l| l.parent == m) {
                work.extend(l.children(id).into_iter().map(|c| (l.child.clone(), c, false)));
            }
            self.graveyard.push(Grave { model: m, id, rec, links: parents });
        }
        Ok(())
    }

    /// A deleted record comes back with its id and its links (restored from a backup, say).
    pub fn restore(&mut self, model: &str, id: i64) -> Result<(), String> {
        let i = self.graveyard.iter().position(|g| g.model == model && g.id == id).ok_or("no such deleted record")?;
        let grave = self.graveyard.remove(i);
        let m = self.models.get_mut(model).ok_or("unknown model")?;
        m.insert(id, grave.rec);
        m.bump(id, |_| ());
        for (l, p) in grave.links {
            self.links[l].link(id, p);
        }
        Ok(())
    }
}

fn generated_value(ftype: &str, h: u64, id: i64) -> Value {
    match ftype {
        "char" | "text" | "html" => json!(format!("valeur {id}-{}", h % 100)),
        "integer" => json!((h % 1000) as i64),
        "float" | "monetary" => json!((h % 10_000) as f64 / 4.0),
        "boolean" => json!(h.is_multiple_of(2)),
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
    use crate::schema;

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
        let (ao, bo) = (a.model(ORDER).unwrap(), b.model(ORDER).unwrap());
        let f = ao.field("amount_total").unwrap().clone();
        for id in 1..=10 {
            assert_eq!(a.value(ao, id, &ao.records[&id], &f), b.value(bo, id, &bo.records[&id], &f));
        }
        let link = a.link(LINE, "order_id").unwrap();
        assert_eq!((1..=10).map(|o| link.children(o).len()).sum::<usize>(), 30);
        assert_eq!(fmt_datetime(ao.records[&1].write_us), fmt_datetime(ao.records[&2].write_us), "same second, as a batch create");
        assert_ne!(ao.records[&1].write_us, ao.records[&2].write_us, "but distinct microseconds");
    }

    #[test]
    fn typed_values_keep_odoo_wire_facts() {
        for name in ["partner", "variant"] {
            let s = Store::build(11, schema::builtin(name).unwrap(), &Sizes { all: Some(200), ..Default::default() });
            for m in s.models.values() {
                for (id, r) in &m.records {
                    for f in &m.fields {
                        let v = s.value(m, *id, r, f);
                        let ok = match f.ftype.as_str() {
                            "integer" => v.is_i64(),
                            "float" | "monetary" => v.is_f64(),
                            "boolean" => v.is_boolean(),
                            "one2many" | "many2many" | "properties" => v.is_array(),
                            "many2one" => v == json!(false) || (v[0].is_i64() && v[1].is_string()),
                            "selection" => v == json!(false) || f.selection.as_ref().unwrap().as_array().unwrap().iter().any(|p| p[0] == v),
                            "json" => v == json!(false) || v.is_object(),
                            "reference" => v == json!(false) || v.as_str().unwrap().contains(','),
                            _ => v == json!(false) || v.is_string(),
                        };
                        assert!(ok, "{}.{} ({}) of {id}: {v}", m.name, f.name, f.ftype);
                    }
                }
            }
        }
    }

    #[test]
    fn many2one_to_a_served_model_points_to_an_existing_record() {
        let mut s = Store::build(4, schema::builtin("partner").unwrap(), &Sizes { all: Some(40), ..Default::default() });
        let m = s.model("res.partner").unwrap();
        let f = m.field("commercial_partner_id").unwrap().clone();
        for (id, r) in &m.records {
            if let Some(p) = s.value(m, *id, r, &f)[0].as_i64() {
                assert!(m.records.contains_key(&p) && p < *id);
            }
        }
        // Deleting a parent deletes its children (child_ids lists them through parent_id).
        assert_eq!(s.link("res.partner", "parent_id").unwrap().children(2), vec![8]);
        s.delete("res.partner", 2).unwrap();
        assert!(!s.model("res.partner").unwrap().records.contains_key(&8));
        assert!(!s.model("res.partner").unwrap().records.contains_key(&32), "and theirs");
        s.restore("res.partner", 8).unwrap();
        assert_eq!(s.link("res.partner", "parent_id").unwrap().parent_of(8), Some(2), "its link comes back");
    }
}
