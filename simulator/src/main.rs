//! An Odoo simulator for scrap_sga's demo, tests and benchmarks: it plays Odoo 18 (JSON-RPC),
//! 19 (JSON-RPC and JSON-2) or 20 (JSON-2 only).
//!
//! `odoo_sim --port 8069 --odoo-version 18 --seed 42 --orders 1000 --lines 5000 [--database dimagaz
//! --login admin --password admin --api-key KEY --workers N --cost-order-us 250 --cost-line-us 100]`
//!
//! `--workers N` serves at most N Odoo requests at once, as an Odoo with N HTTP workers (0: no
//! limit). `--cost-*-us` is the wall time each order or line read costs a worker: 250 and 100 are
//! a fast machine's single Odoo stream (4,000 orders/s, 10,000 lines/s).
//! prints `listening on http://127.0.0.1:PORT` once ready (port 0 picks a free one).
mod control;
mod data;
mod domain;
mod http;
mod json2;
mod methods;
mod rpc;
mod state;
mod workers;

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
    let micros = |name: &str| std::time::Duration::from_micros(arg(name, "0").parse().unwrap_or_else(|_| panic!("{name} is a number of microseconds")));
    let workers = Arc::new(workers::Workers::new(arg("--workers", "0").parse().expect("--workers is a number")));
    let sim = state::Sim {
        serving_cost: state::ServingCost { order: micros("--cost-order-us"), line: micros("--cost-line-us") },
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
            serve(&workers, &sim, |owed| rpc::handle(&sim, &req, owed))
        } else if req.path.starts_with("/json/2/") || req.path == "/json/2" {
            serve(&workers, &sim, |owed| json2::handle(&sim, &req, owed))
        } else if req.method == "GET" && (req.path == "/json/version" || req.path == "/web/version") {
            version_route(&sim)
        } else {
            http::Reply::not_found_page()
        }
    });
    http::serve(listener, handler);
}

/// One Odoo request on one of the simulated workers: it waits for a free one, then spends the
/// answer's serving time on it, outside the simulator's lock (other workers go on meanwhile).
fn serve(workers: &workers::Workers, sim: &Mutex<Sim>, handle: impl FnOnce(&mut std::time::Duration) -> http::Reply) -> http::Reply {
    let worker = workers.acquire();
    {
        let mut s = sim.lock().unwrap();
        s.stats.most_at_once = s.stats.most_at_once.max(worker.at_once);
    }
    let mut owed = std::time::Duration::ZERO;
    let reply = handle(&mut owed);
    std::thread::sleep(owed);
    reply
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
