//! Fetching the next page while the current one is written.
//!
//! Odoo serving a page and Postgres writing the previous one are independent, so they overlap:
//! the HTTP request runs on a short-lived thread while the backend's own thread converts and
//! writes. The thread makes no Postgres call (none is allowed off the main thread) and blocks
//! every signal, so that Postgres' signal handlers only ever run on the backend's thread.
use scrap_sga_core::odoo::{Client, OdooError};
use serde_json::{Map, Value};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub type Page = Vec<Map<String, Value>>;

pub struct InFlight {
    handle: JoinHandle<(Client, Result<Page, OdooError>, Duration)>,
}

/// Start `search_read` on its own thread; the client comes back with the answer.
pub fn start(client: Client, model: String, domain: Value, fields: Vec<String>, limit: usize) -> InFlight {
    let handle = std::thread::spawn(move || {
        block_signals();
        let t0 = Instant::now();
        let page = client.search_read(&model, &domain, &fields, "id asc", limit);
        (client, page, t0.elapsed())
    });
    InFlight { handle }
}

impl InFlight {
    /// Wait for the page. `Err` only if the thread itself panicked, which ureq and serde do not.
    pub fn wait(self) -> Result<(Client, Result<Page, OdooError>, Duration), String> {
        self.handle.join().map_err(|_| "the page fetch thread panicked".to_owned())
    }
}

fn block_signals() {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}
