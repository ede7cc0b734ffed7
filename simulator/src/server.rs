//! Where a request goes: `/sim/` to the control API, the Odoo routes to a simulated worker,
//! after the rate limit; and what each answer counts.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::faults;
use crate::http::{Reply, Request};
use crate::state::Sim;
use crate::workers::Workers;
use crate::{control, json2, rpc};

pub struct App {
    pub sim: Mutex<Sim>,
    pub workers: Workers,
}

/// The Odoo routes, which the rate limit counts.
fn odoo_route(req: &Request) -> bool {
    req.path == "/jsonrpc" || req.path == "/json/2" || req.path.starts_with("/json/2/") || req.path == "/json/version" || req.path == "/web/version"
}

impl App {
    pub fn new(sim: Sim, workers: usize) -> App {
        App { sim: Mutex::new(sim), workers: Workers::new(workers) }
    }

    pub fn handle(&self, req: Request) -> Reply {
        if req.path.starts_with("/sim/") {
            return control::handle(&self.sim, &req.method, &req.path, &req.body);
        }
        let reply = self.odoo(&req);
        self.sim.lock().unwrap().stats.count_reply(&reply);
        reply
    }

    fn odoo(&self, req: &Request) -> Reply {
        if !odoo_route(req) {
            return Reply::not_found_page();
        }
        {
            let mut s = self.sim.lock().unwrap();
            let arrival = s.limits.arrive(Instant::now());
            s.stats.most_per_second = s.stats.most_per_second.max(arrival.within_second);
            if arrival.refused {
                return faults::too_many_requests(s.limits.retry_after.as_deref());
            }
        }
        if req.path == "/jsonrpc" {
            if req.method != "POST" {
                return Reply::not_found_page();
            }
            self.serve(|owed| rpc::handle(&self.sim, req, owed))
        } else if req.path.starts_with("/json/2") {
            self.serve(|owed| json2::handle(&self.sim, req, owed))
        } else if req.method == "GET" {
            self.serve(|owed| version_route(&self.sim, owed))
        } else {
            Reply::not_found_page()
        }
    }

    /// One Odoo request on one of the simulated workers: it waits for a free one, then spends the
    /// answer's serving time on it, outside the simulator's lock (other workers go on meanwhile).
    /// Past `limit_time_real`, the worker is killed: the connection closes without an answer.
    fn serve(&self, handle: impl FnOnce(&mut Duration) -> Reply) -> Reply {
        let worker = self.workers.acquire();
        {
            let mut s = self.sim.lock().unwrap();
            s.stats.most_at_once = s.stats.most_at_once.max(worker.at_once);
        }
        let mut owed = Duration::ZERO;
        let reply = handle(&mut owed);
        let kill = self.sim.lock().unwrap().limits.kill_after(owed);
        if let Some(limit) = kill {
            std::thread::sleep(limit);
            return Reply::Killed;
        }
        std::thread::sleep(owed);
        reply
    }
}

/// `GET /json/version` and `/web/version`: the `rpc` addon of Odoo 19 and later.
fn version_route(sim: &Mutex<Sim>, owed: &mut Duration) -> Reply {
    if sim.lock().unwrap().version < 19 {
        return Reply::not_found_page();
    }
    let fault = sim.lock().unwrap().take_fault("version");
    let post = match faults::intercept(fault, owed, |_, message| Reply::html(500, message)) {
        Ok(post) => post,
        Err(reply) => return reply,
    };
    let mut s = sim.lock().unwrap();
    s.count_protocol("version", None);
    let v = s.version;
    let reply = Reply::json(200, &serde_json::json!({"version_info": [v, 0, 0, "final", 0, ""], "version": format!("{v}.0")}));
    match post {
        Some(p) => p.apply(reply),
        None => reply,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Requests through the whole router, as a client sends them (no socket).
    use super::*;
    use crate::data::{Sizes, Store};
    use crate::schema;
    use serde_json::{json, Value};

    const KEY: &str = "0123456789abcdef0123456789abcdef01234567";

    pub(crate) fn app(version: u32, schema_name: &str, orders: i64, lines: i64) -> App {
        let sizes = Sizes { orders: Some(orders), lines: Some(lines), all: Some(orders), ..Default::default() };
        let mut sim = Sim::new(version, Store::build(5, schema::builtin(schema_name).unwrap(), &sizes));
        sim.api_keys.insert(KEY.into());
        App::new(sim, 0)
    }

    pub(crate) fn request(method: &str, path: &str, body: Value) -> Request {
        let headers = vec![("content-type".into(), "application/json".into()), ("authorization".into(), format!("bearer {KEY}"))];
        Request { method: method.into(), path: path.into(), headers, body: serde_json::to_vec(&body).unwrap() }
    }

    /// (status, JSON body) of an answer; status 0 when the connection closes.
    pub(crate) fn send(app: &App, method: &str, path: &str, body: Value) -> (u16, Value) {
        match app.handle(request(method, path, body)) {
            Reply::Send { status, body, .. } => (status, serde_json::from_slice(&body).unwrap_or(Value::Null)),
            _ => (0, Value::Null),
        }
    }

    pub(crate) fn json2(app: &App, model: &str, method: &str, body: Value) -> (u16, Value) {
        send(app, "POST", &format!("/json/2/{model}/{method}"), body)
    }

    pub(crate) fn jsonrpc(app: &App, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "call", "params": {"service": "object", "method": "execute_kw", "args": ["dimagaz", 2, "admin", model, method, args, kwargs]}});
        send(app, "POST", "/jsonrpc", body).1
    }

    pub(crate) fn control(app: &App, path: &str, body: Value) -> Value {
        let (status, v) = send(app, "POST", path, body);
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    pub(crate) fn stats(app: &App) -> Value {
        send(app, "GET", "/sim/stats", json!({})).1
    }

    #[test]
    fn variant_values_follow_their_types() {
        let app = app(19, "variant", 30, 90);
        let (status, orders) = json2(&app, "dimagaz.bc", "search_read", json!({"domain": [], "context": {"active_test": false}}));
        assert_eq!(status, 200);
        let orders = orders.as_array().unwrap();
        assert_eq!(orders.len(), 30);
        for o in orders {
            assert!(o.get("date_order").is_none() && o["sequence"].is_i64() && o["x_poids_total"].is_f64());
            assert!(o["etat"] == json!(false) || ["brouillon", "valide", "livre", "annule"].contains(&o["etat"].as_str().unwrap()));
            assert!(o["date_approve"] == json!(false) || o["date_approve"].as_str().unwrap().len() == 19);
            assert!(o["x_date_livraison"] == json!(false) || o["x_date_livraison"].as_str().unwrap().len() == 10);
            assert!(o["x_scan"] == json!(false) || o["x_scan"].is_string());
            assert!(o["x_donnees"] == json!(false) || o["x_donnees"].is_object());
            assert_eq!(o["display_name"], o["name"]);
        }
        let (_, lines) = json2(&app, "dimagaz.bc.line", "search_read", json!({"domain": []}));
        for l in lines.as_array().unwrap() {
            let q = l["quantite"].as_f64().unwrap();
            assert_eq!((q * 1000.0).round() / 1000.0, q, "digits [16, 3]");
            let p = l["prix"].as_f64().unwrap();
            assert_eq!((p * 100.0).round() / 100.0, p, "digits [16, 2]");
            let order = l["bc_id"][0].as_i64().unwrap();
            let listed = orders.iter().find(|o| o["id"] == json!(order)).unwrap()["ligne_ids"].as_array().unwrap().clone();
            assert!(listed.contains(&l["id"]), "the order's one2many lists its lines");
        }
    }

    #[test]
    fn the_partner_schema_serves_every_field_of_the_real_document() {
        let app = app(19, "partner", 50, 0);
        let (_, fields) = json2(&app, "res.partner", "fields_get", json!({"attributes": ["type", "digits", "relation_field"]}));
        assert_eq!(fields.as_object().unwrap().len(), 73);
        assert_eq!(fields["partner_latitude"], json!({"type": "float", "digits": [10, 7]}));
        assert_eq!(fields["child_ids"]["relation_field"], "parent_id");
        let (_, recs) = json2(&app, "res.partner", "search_read", json!({"domain": [["id", "in", [8, 9]]], "context": {"active_test": false}}));
        assert_eq!(recs[0].as_object().unwrap().len(), 73, "all fields, non-stored ones included");
        assert_eq!(recs[0]["parent_id"], json!([2, "Contact 2"]), "every fourth record has a parent");
        assert!(recs[0]["color"].is_i64() && recs[0]["partner_latitude"].is_f64() && recs[0]["properties"].is_array());
        let (_, two) = json2(&app, "res.partner", "read", json!({"ids": [2], "fields": ["child_ids"]}));
        assert_eq!(two[0]["child_ids"], json!([8]));
    }

    #[test]
    fn a_loaded_model_takes_every_control_route() {
        let app = app(19, "default", 5, 10);
        let fields = json!({"name": {"type": "char", "string": "Nom", "store": true}, "active": {"type": "boolean", "string": "Actif", "store": true},
            "item_ids": {"type": "one2many", "string": "Articles", "store": true, "relation": "x.item", "relation_field": "box_id"}, "doc": {"type": "binary", "string": "Doc", "store": true}});
        control(&app, "/sim/model/load", json!({"model": "x.box", "fields": fields, "records": 4, "label": "Boîte"}));
        control(&app, "/sim/model/load", json!({"model": "x.item", "records": 12, "fields": {"box_id": {"type": "many2one", "string": "Boîte", "store": true, "relation": "x.box"}}}));
        let (_, boxes) = json2(&app, "x.box", "search_read", json!({"domain": [], "fields": ["item_ids", "name"], "context": {"active_test": false}}));
        assert_eq!(boxes[0], json!({"id": 1, "item_ids": [1, 2, 3], "name": "Boîte 1"}));
        control(&app, "/sim/write", json!({"model": "x.box", "id": 2, "values": {"name": "B"}}));
        control(&app, "/sim/touch", json!({"model": "x.item", "ids": [1]}));
        control(&app, "/sim/archive", json!({"model": "x.box", "id": 3, "active": false}));
        let new = control(&app, "/sim/create", json!({"model": "x.item", "values": {"box_id": 2}}))["id"].as_i64().unwrap();
        assert_eq!(new, 13);
        control(&app, "/sim/delete", json!({"model": "x.box", "id": 2}));
        let (_, count) = json2(&app, "x.item", "search_count", json!({"domain": []}));
        assert_eq!(count, 9, "box 2's three items and the new one went with it");
        control(&app, "/sim/restore", json!({"model": "x.item", "id": 13}));
        control(&app, "/sim/field/add", json!({"model": "x.box", "name": "x_n", "type": "integer"}));
        control(&app, "/sim/field/remove", json!({"model": "x.box", "name": "doc"}));
        let (_, dump) = send(&app, "GET", "/sim/dump?model=x.box", json!({}));
        assert_eq!(dump.as_array().unwrap().len(), 3);
        assert!(dump[0]["x_n"].is_i64() && dump[0].get("doc").is_none());
        let (_, fields) = send(&app, "GET", "/sim/fields?model=x.item", json!({}));
        assert_eq!(fields["box_id"]["relation"], "x.box");
    }

    #[test]
    fn heavy_binaries_are_generated_at_read_time() {
        let app = app(19, "variant", 5, 5);
        let (_, before) = json2(&app, "dimagaz.bc", "read", json!({"ids": [2], "fields": ["write_date"]}));
        control(&app, "/sim/clock", json!({"advance_s": 5}));
        assert_eq!(control(&app, "/sim/heavy", json!({"model": "dimagaz.bc", "field": "x_scan", "from": 1, "to": 3, "bytes": 30000}))["heavy"], 3);
        let (_, recs) = json2(&app, "dimagaz.bc", "read", json!({"ids": [2, 4], "fields": ["x_scan", "write_date"]}));
        assert_eq!(recs[0]["x_scan"].as_str().unwrap().len(), 40000, "base64 of 30,000 bytes");
        assert_ne!(recs[0]["write_date"], before[0]["write_date"], "as a write");
        assert!(recs[1]["x_scan"].as_str().is_none_or(|s| s.len() < 100));
        let (_, again) = json2(&app, "dimagaz.bc", "read", json!({"ids": [2], "fields": ["x_scan"]}));
        assert_eq!(again[0]["x_scan"], recs[0]["x_scan"], "deterministic");
        let default = self::app(19, "default", 3, 3);
        control(&default, "/sim/heavy", json!({"model": "dimagaz.bc", "field": "signature", "ids": [1], "bytes": 3}));
        assert_eq!(json2(&default, "dimagaz.bc", "read", json!({"ids": [1], "fields": ["signature"]})).1[0]["signature"].as_str().unwrap().len(), 4);
        let (status, _) = send(&default, "POST", "/sim/heavy", json!({"model": "dimagaz.bc", "field": "name", "ids": [1], "bytes": 3}));
        assert_eq!(status, 400, "only a binary field");
    }

    #[test]
    fn a_poisoned_record_fails_its_read_but_not_a_listing() {
        let app = app(19, "default", 5, 0);
        let (_, before) = json2(&app, "dimagaz.bc", "read", json!({"ids": [2], "fields": ["write_date"]}));
        control(&app, "/sim/clock", json!({"advance_s": 5}));
        assert_eq!(control(&app, "/sim/poison", json!({"model": "dimagaz.bc", "ids": [2], "kind": "error"}))["poisoned"], 1);
        let (status, err) = json2(&app, "dimagaz.bc", "read", json!({"ids": [1, 2, 3], "fields": ["name"]}));
        assert_eq!((status, err["name"].as_str()), (500, Some("builtins.ValueError")), "{err}");
        assert_eq!(json2(&app, "dimagaz.bc", "read", json!({"ids": [1, 3], "fields": ["name"]})).1.as_array().unwrap().len(), 2);
        let (status, listed) = json2(&app, "dimagaz.bc", "search_read", json!({"domain": [], "fields": ["write_date"]}));
        assert_eq!((status, listed.as_array().unwrap().len()), (200, 5), "a listing reads no compute");
        assert_ne!(listed[1]["write_date"], before[0]["write_date"], "as a write");
        // A NaN: the answer holding it is not JSON, the others are.
        control(&app, "/sim/poison", json!({"model": "dimagaz.bc", "ids": [2], "kind": "nan"}));
        let raw = |ids: Value| match app.handle(request("POST", "/json/2/dimagaz.bc/read", json!({"ids": ids, "fields": ["amount_total"]}))) {
            Reply::Send { body, .. } => String::from_utf8(body).unwrap(),
            _ => panic!("no answer"),
        };
        let body = raw(json!([1, 2]));
        assert!(body.contains("\"amount_total\":NaN") && serde_json::from_str::<Value>(&body).is_err(), "{body}");
        assert!(serde_json::from_str::<Value>(&raw(json!([1, 3]))).is_ok());
        control(&app, "/sim/poison", json!({"model": "dimagaz.bc", "ids": [2], "kind": "none"}));
        assert!(serde_json::from_str::<Value>(&raw(json!([1, 2]))).is_ok(), "undone");
        assert_eq!(send(&app, "POST", "/sim/poison", json!({"model": "dimagaz.bc", "ids": [2], "kind": "odd"})).0, 400);
    }

    #[test]
    fn a_request_past_limit_time_real_is_killed() {
        let app = app(19, "default", 50, 0);
        control(&app, "/sim/cost", json!({"model": "dimagaz.bc", "per_record_us": 4000}));
        control(&app, "/sim/limits", json!({"time_real_ms": 60}));
        let t = Instant::now();
        let (status, _) = json2(&app, "dimagaz.bc", "search_read", json!({"domain": [], "fields": ["name"], "limit": 20}));
        assert_eq!(status, 0, "80 ms of serving: the connection closes");
        assert!(t.elapsed() >= Duration::from_millis(60) && t.elapsed() < Duration::from_millis(80));
        assert_eq!(json2(&app, "dimagaz.bc", "search_read", json!({"domain": [], "fields": ["name"], "limit": 10})).0, 200);
        control(&app, "/sim/cost", json!({"model": "dimagaz.bc", "per_record_us": 0, "per_kb_us": 100000}));
        assert_eq!(json2(&app, "dimagaz.bc", "search_read", json!({"domain": [], "limit": 10})).0, 0, "by size too");
        assert_eq!(stats(&app)["failed"], json!({"time_limit": 2}));
    }

    #[test]
    fn rate_limit_and_proxy_faults() {
        let app = app(19, "default", 5, 5);
        control(&app, "/sim/limits", json!({"rate_per_second": 2, "retry_after": "2"}));
        let replies: Vec<Reply> = (0..3).map(|_| app.handle(request("GET", "/json/version", json!({})))).collect();
        let Reply::Send { status: 429, headers, content_type, .. } = &replies[2] else { panic!("the third is refused") };
        assert_eq!(headers, &vec![("Retry-After", "2".to_owned())]);
        assert!(content_type.starts_with("text/html"));
        control(&app, "/sim/limits", json!({"rate_per_second": 0}));
        control(&app, "/sim/fault", json!({"kind": "http503", "retry_after": "Wed, 21 Oct 2026 07:28:00 GMT", "method": "search_read"}));
        assert_eq!(json2(&app, "dimagaz.bc", "search_read", json!({"domain": []})).0, 503);
        control(&app, "/sim/fault", json!({"kind": "cut"}));
        assert!(matches!(app.handle(request("POST", "/json/2/dimagaz.bc/search", json!({}))), Reply::Cut { .. }));
        control(&app, "/sim/fault", json!({"kind": "huge", "bytes": 100000}));
        let Reply::Send { body, .. } = app.handle(request("POST", "/json/2/dimagaz.bc/search", json!({}))) else { panic!() };
        assert_eq!(body.len(), 100000);
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!([1, 2, 3, 4, 5]));
        let s = stats(&app);
        assert_eq!(s["failed"], json!({"429": 1, "503": 1, "cut": 1}));
        assert_eq!(s["faults"], json!({"http503": 1, "cut": 1, "huge": 1}));
        assert_eq!(s["most_per_second"], 6);
    }

    #[test]
    fn chaos_until_stopped() {
        let app = app(19, "default", 5, 5);
        control(&app, "/sim/chaos", json!({"probability": 1.0, "kinds": ["http502", "drop"], "seed": 3}));
        let statuses: Vec<u16> = (0..20).map(|_| json2(&app, "dimagaz.bc", "search_count", json!({"domain": []})).0).collect();
        assert!(statuses.iter().all(|s| *s == 502 || *s == 0) && statuses.contains(&0) && statuses.contains(&502));
        let s = stats(&app);
        assert_eq!(s["faults"]["http502"].as_u64().unwrap() + s["faults"]["drop"].as_u64().unwrap(), 20);
        assert_eq!(s["failed"]["502"], s["faults"]["http502"]);
        control(&app, "/sim/chaos", json!({"probability": 0}));
        assert_eq!(json2(&app, "dimagaz.bc", "search_count", json!({"domain": []})), (200, json!(5)));
    }

    #[test]
    fn an_unreadable_related_model_fails_the_field_that_reads_it() {
        let app = app(19, "variant", 5, 5);
        control(&app, "/sim/acl", json!({"model": "res.partner.category", "read": false}));
        let ask = json!({"domain": [["id", ">", 0]], "fields": ["name", "tag_ids"], "limit": 2, "order": "id", "context": {"active_test": false}});
        let (status, err) = json2(&app, "dimagaz.bc", "search_read", ask);
        assert_eq!(status, 403);
        assert_eq!(err["name"], "odoo.exceptions.AccessError");
        assert_eq!(err["message"], "Failed to read field dimagaz.bc.tag_ids\nYou are not allowed to access 'Partner Tags' (res.partner.category) records.\n\nThis operation is allowed for the following groups:\n\t- Contact/Creation\n\t- Role / User\n\nContact your administrator to request access if necessary.");
        assert_eq!(json2(&app, "dimagaz.bc", "search_read", json!({"domain": [], "fields": ["name", "write_date"]})).0, 200);
        assert_eq!(json2(&app, "dimagaz.bc", "read", json!({"ids": [1]})).0, 403, "all fields include it");
        assert_eq!(json2(&app, "dimagaz.bc", "search_read", json!({"domain": [["id", ">", 99]], "fields": ["tag_ids"]})).0, 200, "no record, nothing read");
        let rpc = jsonrpc(&app, "dimagaz.bc", "read", json!([[1], ["tag_ids"]]), json!({}));
        assert_eq!(rpc["error"]["data"]["name"], "odoo.exceptions.AccessError");
        assert!(rpc["error"]["data"]["message"].as_str().unwrap().starts_with("Failed to read field dimagaz.bc.tag_ids\n"));
        control(&app, "/sim/acl", json!({"model": "res.partner.category", "read": true}));
        assert_eq!(json2(&app, "dimagaz.bc", "read", json!({"ids": [1]})).0, 200);
    }

    #[test]
    fn records_a_rule_hides_are_left_out_of_searches_and_refused_by_read() {
        let app = app(19, "default", 5, 5);
        assert_eq!(control(&app, "/sim/rules", json!({"model": "dimagaz.bc", "hide": [2, 4]}))["hidden"], 2);
        let ask = json!({"domain": [["id", "in", [1, 2, 3]]], "fields": ["name"], "context": {"active_test": false}});
        let (status, page) = json2(&app, "dimagaz.bc", "search_read", ask);
        assert_eq!((status, page.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>()), (200, vec![1, 3]));
        assert_eq!(json2(&app, "dimagaz.bc", "search_count", json!({"domain": [], "context": {"active_test": false}})), (200, json!(3)));
        let (status, err) = json2(&app, "dimagaz.bc", "read", json!({"ids": [1, 2], "fields": ["name"]}));
        assert_eq!((status, err["name"].as_str()), (403, Some("odoo.exceptions.AccessError")));
        assert!(err["message"].as_str().unwrap().contains("doesn't have 'read' access to"), "{err}");
        control(&app, "/sim/rules", json!({"model": "dimagaz.bc", "hide": []}));
        assert_eq!(json2(&app, "dimagaz.bc", "read", json!({"ids": [1, 2], "fields": ["name"]})).0, 200);
    }

    #[test]
    fn what_each_version_serves() {
        for v in [16, 18] {
            let a = app(v, "default", 3, 3);
            assert_eq!(send(&a, "GET", "/json/version", json!({})).0, 404);
            assert_eq!(json2(&a, "dimagaz.bc", "search", json!({})).0, 404);
            assert_eq!(jsonrpc(&a, "dimagaz.bc", "search_count", json!([[]]), json!({}))["result"], 3);
            assert!(jsonrpc(&a, "dimagaz.bc", "formatted_read_group", json!([[]]), json!({"aggregates": ["__count"]}))["error"].is_object());
        }
        let a = app(21, "default", 3, 3);
        assert_eq!(jsonrpc(&a, "dimagaz.bc", "search_count", json!([[]]), json!({}))["result"], 3);
        assert_eq!(json2(&a, "dimagaz.bc", "read_group", json!({"domain": [], "fields": ["id:sum"], "groupby": []})).0, 404, "gone after 20");
        let a = app(22, "default", 3, 3);
        assert_eq!(send(&a, "POST", "/jsonrpc", json!({})).0, 404, "removed in 22");
        assert_eq!(json2(&a, "dimagaz.bc", "search_count", json!({})).1, 3);
        let a = app(19, "default", 3, 3);
        control(&a, "/sim/limits", json!({"jsonrpc": false}));
        assert_eq!(send(&a, "POST", "/jsonrpc", json!({})).0, 404, "a proxy that hides it");
    }

    #[test]
    fn fingerprints_under_both_protocols() {
        let a = app(19, "default", 10, 40);
        let (status, g) = json2(&a, "dimagaz.bc.line", "read_group", json!({"domain": [], "fields": ["id:sum", "write_date:max"], "groupby": [], "lazy": false, "context": {"active_test": false}}));
        assert_eq!(status, 200);
        assert_eq!((g[0]["__count"].clone(), g[0]["id"].clone(), g[0]["__domain"].clone()), (json!(40), json!(820), json!([[1, "=", 1]])));
        // execute_kw's positional arguments: domain, fields, groupby, offset, limit, orderby, lazy.
        let r = jsonrpc(&a, "dimagaz.bc.line", "read_group", json!([[["id", "<=", 10]], ["id:sum"], [], 0, null, false, false]), json!({}));
        assert_eq!(r["result"][0]["id"], 55);
        let (_, f) = json2(&a, "dimagaz.bc.line", "formatted_read_group", json!({"domain": [], "groupby": [], "aggregates": ["__count", "id:sum", "write_date:max"]}));
        assert_eq!(f[0]["__extra_domain"], json!([[1, "=", 1]]));
        assert_eq!((f[0]["__count"].clone(), f[0]["id:sum"].clone()), (json!(40), json!(820)));
        assert_eq!(f[0]["write_date:max"], g[0]["write_date"]);
        let r = jsonrpc(&a, "dimagaz.bc.line", "formatted_read_group", json!([[]]), json!({"groupby": [], "aggregates": ["id:sum"]}));
        assert_eq!(r["result"][0]["id:sum"], 820);
        assert_eq!(json2(&a, "dimagaz.bc", "read_group", json!({"domain": [], "fields": [], "groupby": [], "bogus": 1})).0, 422);
        control(&a, "/sim/limits", json!({"disabled_methods": ["read_group"]}));
        assert_eq!(json2(&a, "dimagaz.bc", "read_group", json!({"domain": [], "fields": [], "groupby": []})).0, 404);
        control(&a, "/sim/limits", json!({"web": false}));
        let (status, e) = json2(&a, "dimagaz.bc", "formatted_read_group", json!({"domain": [], "groupby": [], "aggregates": ["__count"]}));
        assert_eq!((status, e["message"].clone()), (404, json!("The method 'dimagaz.bc.formatted_read_group' does not exist")));
        assert_eq!(e["arguments"], json!(["The method 'dimagaz.bc.formatted_read_group' does not exist", 404]));
    }

    #[test]
    fn reset_picks_a_schema_and_sizes() {
        let a = app(19, "default", 3, 3);
        control(&a, "/sim/reset", json!({"seed": 2, "schema": "partner", "records": 7}));
        assert_eq!(json2(&a, "res.partner", "search_count", json!({"domain": [], "context": {"active_test": false}})).1, 7);
        assert_eq!(json2(&a, "dimagaz.bc", "search_count", json!({})).0, 404);
        control(&a, "/sim/reset", json!({"seed": 2, "schema": "variant", "orders": 4, "lines": 9}));
        assert_eq!(json2(&a, "dimagaz.bc.line", "search_count", json!({"domain": []})).1, 9);
        control(&a, "/sim/reset", json!({"seed": 2, "orders": 2}));
        assert!(json2(&a, "dimagaz.bc", "fields_get", json!({})).1.get("etat").is_some(), "the schema served stays");
        assert_eq!(send(&a, "POST", "/sim/reset", json!({"schema": "nope"})).0, 400);
    }

    #[test]
    fn a_touch_with_the_same_values_moves_only_write_date() {
        let app = app(19, "default", 5, 10);
        let read = |app: &App| json2(app, "dimagaz.bc", "search_read", json!({"domain": [["id", "=", 1]]})).1[0].clone();
        let without_write_date = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("write_date");
            v
        };
        let before = read(&app);
        control(&app, "/sim/touch", json!({"model": "dimagaz.bc", "ids": [1], "same_values": true, "write_date": "2030-01-01 00:00:00"}));
        let after = read(&app);
        assert_eq!(after["write_date"], json!("2030-01-01 00:00:00"));
        assert_eq!(without_write_date(&before), without_write_date(&after));
        control(&app, "/sim/touch", json!({"model": "dimagaz.bc", "ids": [1]}));
        assert_ne!(without_write_date(&after), without_write_date(&read(&app)), "a plain touch writes new values");
    }

    #[test]
    fn a_touch_with_values_writes_those_fields_on_every_record_and_nothing_else() {
        let app = app(19, "default", 5, 10);
        let read = |app: &App| json2(app, "dimagaz.bc", "search_read", json!({"domain": [], "order": "id"})).1;
        let before = read(&app);
        control(&app, "/sim/touch", json!({"model": "dimagaz.bc", "ids": [1, 2, 3], "values": {"state": "cancel"}}));
        let after = read(&app);
        for (i, (b, a)) in before.as_array().unwrap().iter().zip(after.as_array().unwrap()).enumerate() {
            let touched = i < 3;
            for (k, v) in a.as_object().unwrap() {
                let expect_change = touched && (k == "write_date" || (k == "state" && b[k] != json!("cancel")));
                assert_eq!(&b[k] != v, expect_change, "record {}, field {k}: {} -> {v}", i + 1, b[k]);
            }
            if touched {
                assert_eq!(a["state"], json!("cancel"));
            }
        }
    }
}
