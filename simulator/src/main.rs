//! An Odoo 18 JSON-RPC simulator for scrap_sga's demo, tests and benchmarks.
//!
//! `odoo_sim --port 8069 --seed 42 --orders 1000 --lines 5000 [--database dimagaz --login admin --password admin]`
//! prints `listening on http://127.0.0.1:PORT` once ready (port 0 picks a free one).
mod control;
mod data;
mod domain;
mod http;
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
    let sim = state::Sim {
        store: data::Store::new(seed, orders, lines),
        database: arg("--database", "dimagaz"),
        login: arg("--login", "admin"),
        password: arg("--password", "admin"),
        uid: 2,
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
        } else if req.method == "POST" && req.path == "/jsonrpc" {
            rpc::handle(&sim, &req.body)
        } else {
            http::Reply::text(404, "Not Found")
        }
    });
    http::serve(listener, handler);
}
