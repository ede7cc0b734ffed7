//! Issue 31: display names that follow the records they name. An order's `partner_id_display` is
//! the partner's name as Odoo showed it; renaming the partner does not write the order. Served
//! here by a simulator of another customer's schema (`variant`) with the partners it points to.
use scrap_sga_e2e::{compare_mirror, odoo_version, Db, Sim};
use serde_json::{json, Value};

const ORDERS: &str = "dimagaz.bc";
const TABLE: &str = "scrap_dimagaz_bc";

/// A simulator of the variant schema whose orders point to 10 partners it serves, and a database
/// that copied them (the display names checked as of the copy).
fn with_partners(name: &str) -> (Sim, Db) {
    let sim = Sim::start_with(odoo_version(), 40, 100, &["--schema", "variant"]);
    sim.post("/sim/model/load", json!({"model": "res.partner", "label": "Contact", "records": 10,
        "fields": {"name": {"type": "char", "string": "Name", "store": true}}}));
    let db = Db::fresh(name);
    db.connect_to(&sim);
    db.sync();
    (sim, db)
}

/// Orders pointing to `partner`, and the names their rows show for it.
fn shown(db: &Db, partner: i64) -> Vec<String> {
    let v = db.json(&format!("SELECT coalesce(json_agg(DISTINCT partner_id_display), '[]') FROM {TABLE} WHERE partner_id = {partner}"));
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap_or("NULL").to_owned()).collect()
}

/// As if the check interval had passed since the last check of every many2one.
fn interval_passes(db: &Db) {
    db.sql("UPDATE scrap_sga.model_field SET display_checked_at = display_checked_at - interval '1 hour' WHERE display_checked_at IS NOT NULL");
}

#[test]
fn a_renamed_partner_reaches_every_order_once_the_interval_has_passed() {
    let (sim, db) = with_partners("e2e_display_rename");
    let partner = db.int(&format!("SELECT partner_id FROM {TABLE} WHERE partner_id IS NOT NULL GROUP BY partner_id ORDER BY count(*) DESC LIMIT 1"));
    let orders = db.int(&format!("SELECT count(*) FROM {TABLE} WHERE partner_id = {partner}"));
    assert!(orders >= 2, "several orders point to partner {partner}");
    sim.post("/sim/write", json!({"model": "res.partner", "id": partner, "values": {"name": "Fournisseur renommé SARL"}}));
    db.sync();
    assert_ne!(shown(&db, partner), vec!["Fournisseur renommé SARL"], "within the interval, not asked yet");

    interval_passes(&db);
    sim.post("/sim/stats/reset", json!({}));
    db.sync();
    assert_eq!(shown(&db, partner), vec!["Fournisseur renommé SARL"], "every order of the partner");
    assert_eq!(compare_mirror(&db, &sim, ORDERS, TABLE), Vec::<String>::new());
    // One request per related model, shared by the models pointing to it (orders and lines both
    // point to users, currencies), besides the two of each quiet model.
    let related = db.int("SELECT count(DISTINCT relation) FROM scrap_sga.model_field WHERE odoo_type = 'many2one' AND status = 'active'");
    assert_eq!(sim.model_requests(), 2 * 2 + related as u64, "{}", sim.stats());
    // Audited like any change, in the run that made it.
    let run = db.last_run(ORDERS);
    assert_eq!(run["updated"].as_i64(), Some(orders), "{run}");
    // Renamed, not read again: neither a record read nor one left unchanged.
    assert_eq!((run["renamed"].as_i64(), run["fetched"].as_i64(), run["unchanged"].as_i64()), (Some(orders), Some(0), Some(0)), "{run}");
    let audit = db.json(&format!(
        "SELECT json_agg(json_build_object('old', old_values, 'new', new_values)) FROM scrap_sga.audit_log
         WHERE table_name = '{TABLE}' AND run_id = {} AND operation = 'update'", run["run_id"]
    ));
    assert_eq!(audit.as_array().map(Vec::len), Some(orders as usize), "{audit}");
    assert_eq!(audit[0]["new"], json!({"partner_id_display": "Fournisseur renommé SARL"}), "only the name changed: {audit}");
}

#[test]
fn a_name_changed_without_its_record_written_is_repaired_by_the_reconcile() {
    let (sim, db) = with_partners("e2e_display_silent");
    let partner = db.int(&format!("SELECT min(partner_id) FROM {TABLE}"));
    // The display name changes, write_date does not (a name made of another record's name).
    sim.post("/sim/write", json!({"model": "res.partner", "id": partner, "values": {"name": "Nom calculé"}, "silent": true}));
    interval_passes(&db);
    db.sync();
    assert_ne!(shown(&db, partner), vec!["Nom calculé"], "no write_date moved: the check does not see it");
    db.sql("SELECT count(*) FROM scrap_sga.reconcile()");
    assert_eq!(shown(&db, partner), vec!["Nom calculé"], "the reconcile reads every referenced name");
    assert_eq!(compare_mirror(&db, &sim, ORDERS, TABLE), Vec::<String>::new());
}

#[test]
fn a_partner_a_record_rule_hides_keeps_its_name_and_the_others_still_follow() {
    let (sim, db) = with_partners("e2e_display_rule");
    let partners: Vec<i64> = db
        .json(&format!("SELECT json_agg(DISTINCT partner_id ORDER BY partner_id) FROM {TABLE} WHERE partner_id IS NOT NULL"))
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let (hidden, seen) = (partners[0], partners[1]);
    let before = shown(&db, hidden);
    for (id, name) in [(hidden, "Caché"), (seen, "Visible")] {
        sim.post("/sim/write", json!({"model": "res.partner", "id": id, "values": {"name": name}, "silent": true}));
    }
    // The sync user's record rules hide one partner: reading it by id is refused in Odoo.
    sim.post("/sim/rules", json!({"model": "res.partner", "hide": [hidden]}));
    let result = db.json("SELECT json_agg(r) FROM scrap_sga.reconcile() r");
    assert!(result.as_array().unwrap().iter().all(|r| r["status"] == "succeeded"), "{result}");
    assert_eq!(shown(&db, seen), vec!["Visible"], "the names the user may see follow");
    assert_eq!(shown(&db, hidden), before, "the hidden one keeps what the orders' own read showed");
    // (The simulator serves no res.users nor res.currency: those many2ones keep their reason.)
    let error = db.sql(&format!("SELECT coalesce(display_error, '') FROM scrap_sga.model_field WHERE model = '{ORDERS}' AND field = 'partner_id'"));
    assert_eq!(error, "", "not a refusal of res.partner");
}

#[test]
fn a_related_model_the_user_may_not_read_keeps_its_names_with_the_reason_and_is_not_asked_again() {
    let (sim, db) = with_partners("e2e_display_refused");
    let partner = db.int(&format!("SELECT min(partner_id) FROM {TABLE}"));
    let before = shown(&db, partner);
    sim.post("/sim/acl", json!({"model": "res.partner", "read": false}));
    sim.post("/sim/write", json!({"model": "res.partner", "id": partner, "values": {"name": "Invisible"}}));
    interval_passes(&db);
    let result = db.sync();
    assert!(result.as_array().unwrap().iter().all(|r| r["status"] == "succeeded"), "the runs go on: {result}");
    assert_eq!(shown(&db, partner), before, "kept as they were");
    let reason = db.sql(&format!("SELECT display_error FROM scrap_sga.model_field WHERE model = '{ORDERS}' AND field = 'partner_id'"));
    assert!(reason.contains("may not read res.partner"), "{reason}");
    let change: Value = db.json(&format!("SELECT to_jsonb(schema_changes) FROM scrap_sga.sync_run WHERE model = '{ORDERS}' ORDER BY run_id DESC LIMIT 1"));
    assert!(change.to_string().contains("display names of partner_id not refreshed"), "{change}");
    // Asked again with the field check only: the next quiet runs send no request that fails.
    interval_passes(&db);
    sim.post("/sim/stats/reset", json!({}));
    db.sync();
    assert_eq!(sim.stats()["failed"], json!({}), "{}", sim.stats());
    // A full pass reads every order again, names included, but the refusal stays known: the
    // quiet runs after it still send no request that fails.
    db.sql(&format!("SELECT count(*) FROM scrap_sga.full_resync('{ORDERS}')"));
    assert!(db.sql(&format!("SELECT display_error FROM scrap_sga.model_field WHERE model = '{ORDERS}' AND field = 'partner_id'")).contains("may not read"));
    interval_passes(&db);
    sim.post("/sim/stats/reset", json!({}));
    db.sync();
    assert_eq!(sim.stats()["failed"], json!({}), "{}", sim.stats());
    // The right given back: the field check asks again, and the names follow.
    sim.post("/sim/acl", json!({"model": "res.partner", "read": true}));
    db.sql("UPDATE scrap_sga.model SET schema_checked_at = NULL");
    interval_passes(&db);
    db.sync();
    assert_eq!(shown(&db, partner), vec!["Invisible"]);
    assert_eq!(db.sql(&format!("SELECT count(*) FROM scrap_sga.model_field WHERE model = '{ORDERS}' AND display_error IS NOT NULL AND relation = 'res.partner'")), "0");
}
