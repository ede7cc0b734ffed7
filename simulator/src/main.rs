//! An Odoo simulator for scrap_sga's demo, tests and benchmarks: it plays Odoo 18 (JSON-RPC),
//! 19 (JSON-RPC and JSON-2) or 20 (JSON-2 only).
//!
//! `odoo_sim --port 8069 --odoo-version 18 --seed 42 --orders 1000 --lines 5000 [--database dimagaz
//! --login admin --password admin --api-key KEY]`
//! prints `listening on http://127.0.0.1:PORT` once ready (port 0 picks a free one).
mod control;
mod data;
mod domain;
mod http;
mod json2;
mod methods;
mod rpc;
mod state;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let port: u16 = arg("--port", "8069").parse().expect("--port is a number");
    let seed: u64 = arg("--seed", "42").parse().expect("--seed is a number");
    let orders: i64 = arg("--orders", "1000").parse().expect("--orders is a number");
    let lines: i64 = arg("--lines", "5000").parse().expect("--lines is a number");
    let version: u32 = arg("--odoo-version", "18").parse().expect("--odoo-version is 18, 19 or 20");
    assert!((18..=20).contains(&version), "--odoo-version is 18, 19 or 20");
    let api_key = arg("--api-key", "");
    let sim = state::Sim {
        version,
        store: data::Store::new(seed, orders, lines),
        database: arg("--database", "dimagaz"),
        login: arg("--login", "admin"),
        password: arg("--password", "admin"),
        uid: 2,
        api_keys: [api_key].into_iter().filter(|k| !k.is_empty()).collect(),
        denied: Default::default(),
        keys_made: 0,
        faults: Vec::new(),
        stats: Default::default(),
        graveyard: Vec::new(),
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("cannot listen");
    println!("listening on http://{}", listener.local_addr().unwrap());
    let sim = Arc::new(Mutex::new(sim));
    let handler = Arc::new(move |req: http::Request| -> http::Reply {
        if req.path.starts_with("/sim/") {
            control::handle(&sim, &req.method, &req.path, &req.body)
        } else if req.path == "/jsonrpc" && req.method == "POST" {
            rpc::handle(&sim, &req)
        } else if req.path.starts_with("/json/2/") || req.path == "/json/2" {
            json2::handle(&sim, &req)
        } else if req.method == "GET" && (req.path == "/json/version" || req.path == "/web/version") {
            version_route(&sim)
        } else {
            http::Reply::not_found_page()
        }
    });
    http::serve(listener, handler);
}

/// `GET /json/version` and `/web/version`: the `rpc` addon of Odoo 19 and later.
fn version_route(sim: &Mutex<Sim>) -> http::Reply {
    let mut s = sim.lock().unwrap();
    if s.version < 19 {
        return http::Reply::not_found_page();
    }
    s.count_protocol("version", None);
    let v = s.version;
    http::Reply::json(200, &serde_json::json!({"version_info": [v, 0, 0, "final", 0, ""], "version": format!("{v}.0")}))
}

use state::Sim;
