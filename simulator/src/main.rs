//! An Odoo simulator for scrap_sga's demo, tests and benchmarks: it plays Odoo 16 to 22, with
//! the protocols each has:
//!
//! | version | /jsonrpc | JSON-2, /json/version, /web/version | read_group | formatted_read_group |
//! |---|---|---|---|---|
//! | 16–18 | yes | no (404) | yes | no |
//! | 19–20 | yes, deprecated (a WARNING on stderr) | yes | yes | yes (the `web` addon) |
//! | 21 | yes, deprecated | yes | no | yes |
//! | 22 | no (404): Odoo's documentation schedules its removal for 22 | yes | no | yes |
//!
//! Usage:
//!
//! ```text
//! odoo_sim --port 8069 --odoo-version 18 --seed 42 --orders 1000 --lines 5000
//!   [--schema default|variant|partner --records N
//!    --database dimagaz --login admin --password admin --api-key KEY
//!    --workers N --cost-order-us 250 --cost-line-us 100 --limit-time-real-ms MS
//!    --no-jsonrpc --no-web]
//! ```
//!
//! `--schema` picks the models served (`schemas/`, see `schema.rs`): `default` (dimagaz.bc and
//! dimagaz.bc.line as always), `variant` (the same models named and typed as another customer's
//! Odoo may have them), `partner` (a real Odoo 19 res.partner). `--orders` / `--lines` size
//! dimagaz.bc / dimagaz.bc.line whatever the schema, `--records N` every other model (default:
//! the schema's own count, 1000). `--workers N` serves at most N Odoo requests at once, as an
//! Odoo with N HTTP workers (0: no limit). `--cost-*-us` is the wall time each order or line read
//! costs a worker: 250 and 100 are a fast machine's single Odoo stream (4,000 orders/s, 10,000
//! lines/s); `/sim/cost` sets it for any model, and per KB of answer. `--limit-time-real-ms`: a
//! request whose serving time would pass it is cut off there, the connection closed unanswered
//! (Odoo's `limit_time_real` kills the worker). `--no-jsonrpc` removes /jsonrpc whatever the
//! version, as some hosted proxies do; `--no-web` plays a server without the `web` addon (no
//! formatted_read_group). The control API (`/sim/*`) is documented in `control/mod.rs`.
//!
//! A request costs what it answers, not what the model holds: searches go through the models'
//! indexes (`data/index.rs`, `domain::Query`), so that a page after an id, a count, a fingerprint
//! of an id range or a write_date window, a listing or a read looks at as many records in a model
//! of millions as in a small one. `/sim/stats` counts the records looked at (`records_visited`),
//! which tests assert on instead of timings (`scaling.rs`).
//!
//! Prints `listening on http://127.0.0.1:PORT` once ready (port 0 picks a free one).
mod control;
mod data;
mod domain;
mod faults;
mod fingerprint;
mod http;
mod json2;
mod limits;
mod methods;
mod rpc;
#[cfg(test)]
mod scaling;
mod schema;
mod server;
mod state;
mod workers;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let given = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let arg = |name: &str, default: &str| given(name).unwrap_or_else(|| default.to_owned());
    let flag = |name: &str| args.iter().any(|a| a == name);
    let number = |name: &str| given(name).map(|v| v.parse::<i64>().unwrap_or_else(|_| panic!("{name} is a number")));
    let port: u16 = arg("--port", "8069").parse().expect("--port is a number");
    let seed: u64 = arg("--seed", "42").parse().expect("--seed is a number");
    let version: u32 = arg("--odoo-version", "18").parse().expect("--odoo-version is a number, 16 to 22");
    assert!((16..=22).contains(&version), "--odoo-version is 16 to 22");
    let schema = schema::builtin(&arg("--schema", "default")).unwrap_or_else(|e| panic!("--schema: {e}"));
    let sizes = data::Sizes { orders: number("--orders"), lines: number("--lines"), all: number("--records"), from_document: true, ..Default::default() };
    let micros = |name: &str| Duration::from_micros(arg(name, "0").parse().unwrap_or_else(|_| panic!("{name} is a number of microseconds")));

    let mut sim = state::Sim::new(version, data::Store::build(seed, schema, &sizes));
    for (model, flag_name) in [(data::ORDER, "--cost-order-us"), (data::LINE, "--cost-line-us")] {
        sim.costs.insert(model.to_owned(), state::Cost { per_record: micros(flag_name), per_kb: Duration::ZERO });
    }
    sim.database = arg("--database", "dimagaz");
    sim.login = arg("--login", "admin");
    sim.password = arg("--password", "admin");
    sim.api_keys.extend([arg("--api-key", "")].into_iter().filter(|k| !k.is_empty()));
    sim.limits.time_real = Duration::from_millis(arg("--limit-time-real-ms", "0").parse().expect("--limit-time-real-ms is a number"));
    sim.limits.jsonrpc = !flag("--no-jsonrpc");
    sim.limits.web = !flag("--no-web");

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("cannot listen");
    println!("listening on http://{}", listener.local_addr().unwrap());
    let app = Arc::new(server::App::new(sim, arg("--workers", "0").parse().expect("--workers is a number")));
    http::serve(listener, Arc::new(move |req: http::Request| app.handle(req)));
}
