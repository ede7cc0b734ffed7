//! Issue 33: the row audit logs a binary as its size and SHA-256 digest, never its content, and an
//! unchanged binary not at all. Orders' binaries are changed through the simulator (made heavy,
//! written, emptied) on the default schema and on the variant one, whose fields are named
//! otherwise: each test finds the fields it uses by their types.
use scrap_sga_e2e::{count, odoo_version, row_of, Db, Sim};
use serde_json::{json, Value};

const ORDERS: &str = "dimagaz.bc";
const TABLE: &str = "scrap_dimagaz_bc";

/// The first stored field of the orders of this Odoo type.
fn field_of_type(sim: &Sim, ftype: &str) -> String {
    let fields = sim.fields(ORDERS);
    let mut names: Vec<&String> = fields.iter().filter(|(_, f)| f["type"] == ftype && f["store"] != json!(false)).map(|(name, _)| name).collect();
    names.sort();
    names.first().unwrap_or_else(|| panic!("no {ftype} field among the orders' fields: {fields:?}")).to_string()
}

/// A value for a message: its start only (a binary's content as hex would be megabytes).
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= 300 {
        return text;
    }
    format!("{}... ({} bytes)", text.chars().take(300).collect::<String>(), text.len())
}

struct Orders<'a> {
    sim: &'a Sim,
    db: &'a Db,
    binary: String,
}

impl Orders<'_> {
    /// What the audit must say of the binary the mirror holds for the order now: its size and
    /// digest as PostgreSQL computes them, or null.
    fn digest(&self, id: i64) -> Value {
        let b = &self.binary;
        self.db.json(&format!(
            "SELECT CASE WHEN {b} IS NULL THEN 'null' ELSE jsonb_build_object('bytes', octet_length({b}), 'sha256', encode(sha256({b}), 'hex')) END FROM {TABLE} WHERE id = {id}"
        ))
    }

    /// Syncs; the order's audit row of that run, [old_values, new_values].
    fn sync_and_log(&self, id: i64) -> (Value, Value) {
        let result = self.db.sync();
        let run = count(row_of(&result, ORDERS), "run_id");
        let rows = self.db.json(&format!(
            "SELECT json_agg(json_build_array(old_values, new_values)) FROM scrap_sga.audit_log WHERE run_id = {run} AND odoo_id = {id} AND table_name = '{TABLE}'"
        ));
        let rows = rows.as_array().unwrap_or_else(|| panic!("order {id} logged nothing in run {run}: {result}"));
        assert_eq!(rows.len(), 1, "one audit row for order {id} in run {run}: {}", short(&json!(rows)));
        (rows[0][0].clone(), rows[0][1].clone())
    }

    fn write(&self, id: i64, values: Value) {
        self.sim.post("/sim/write", json!({"model": ORDERS, "id": id, "values": values}));
    }
}

fn binaries_are_logged_by_size_and_digest(schema: &str) {
    let sim = Sim::start_with(odoo_version(), 40, 0, &["--schema", schema]);
    let db = Db::fresh(&format!("e2e_audit_binary_{schema}"));
    db.connect_to(&sim);
    db.sync();
    let orders = Orders { sim: &sim, db: &db, binary: field_of_type(&sim, "binary") };
    let (binary, text) = (orders.binary.as_str(), field_of_type(&sim, "text"));

    // A binary of 0.7 MB, then of 0.5 MB: each audit row holds the size and digest of the binary
    // before and after, the last one those of what the mirror holds.
    let mut before = orders.digest(1);
    for bytes in [716_800, 512_000] {
        sim.post("/sim/heavy", json!({"model": ORDERS, "field": binary, "ids": [1], "bytes": bytes}));
        let (old, new) = orders.sync_and_log(1);
        let now = orders.digest(1);
        assert_eq!(now["bytes"], json!(bytes), "the mirror holds the new binary");
        assert!(old[binary] == before && new[binary] == now, "{} -> {}, expected {before} -> {now}", short(&old), short(&new));
        let logged = old.to_string().len() + new.to_string().len();
        assert!(logged < 1000, "the content is not logged: {logged} bytes of old and new values");
        before = now;
    }

    // Another column changes: the unchanged binary, however large, is not in the audit row.
    orders.write(1, json!({&text: "a note written by hand"}));
    let (old, new) = orders.sync_and_log(1);
    assert_eq!(new[&text], json!("a note written by hand"), "{}", short(&new));
    assert!(old.get(binary).is_none() && new.get(binary).is_none(), "the binary did not change: {} -> {}", short(&old), short(&new));
    assert_eq!(orders.digest(1), before);

    // From none to a value, from a value to none: null on its side.
    orders.write(2, json!({binary: false}));
    db.sync();
    assert_eq!(orders.digest(2), Value::Null);
    orders.write(2, json!({binary: "aGVsbG8="})); // "hello"
    let (old, new) = orders.sync_and_log(2);
    let now = orders.digest(2);
    assert!(old[binary].is_null() && new[binary] == now, "{} -> {}, expected null -> {now}", short(&old), short(&new));
    assert!(old.as_object().is_some_and(|o| o.contains_key(binary)), "a null, not a missing key: {}", short(&old));
    assert_eq!(new[binary], json!({"bytes": 5, "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}));
    orders.write(2, json!({binary: false}));
    let (old, new) = orders.sync_and_log(2);
    assert!(old[binary] == now && new[binary].is_null(), "{} -> {}, expected {now} -> null", short(&old), short(&new));

    // Nowhere in the log is a binary's content (hex, as to_jsonb would render it).
    assert_eq!(db.int("SELECT count(*) FROM scrap_sga.audit_log WHERE old_values::text LIKE '%\\\\x%' OR new_values::text LIKE '%\\\\x%'"), 0);
}

#[test]
fn a_binary_is_logged_by_its_size_and_digest_default_schema() {
    binaries_are_logged_by_size_and_digest("default");
}

#[test]
fn a_binary_is_logged_by_its_size_and_digest_variant_schema() {
    binaries_are_logged_by_size_and_digest("variant");
}
