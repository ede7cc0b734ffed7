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
    let post = match faults::intercept(sim, "version", owed, |_, message| Reply::html(500, message)) {
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
