//! Every Odoo call of the engine goes through [`Remote`], so that waits are interruptible: a call
//! runs on a short-lived thread while the backend's own thread polls the shutdown flag, so
//! SIGTERM (`pg_ctl stop -m fast`, `pg_terminate_backend`) stops a worker within a fraction of a
//! second even while Odoo holds an answer back; timeouts alone would keep it for up to
//! `scrap_sga.read_timeout`. Reading pages while others are written is `streams`' job, with
//! clients forked from this one ([`Remote::fork`]).
//!
//! The thread makes no Postgres call (none is allowed off the main thread), reads none of
//! Postgres' globals either, and blocks every signal, so Postgres' signal handlers only ever run
//! on the backend's thread. The one signal that crosses over is explicit: `stop`, an atomic flag
//! the backend's thread sets when it sees the shutdown request, and which the client reads
//! between chunks of an answer.
use scrap_sga_core::odoo::{Client, Interrupt, OdooError, Settings};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub type Page = Vec<Map<String, Value>>;

/// Odoo's clock at the client's last answer (HTTP `Date` header), in Odoo's datetime format.
pub fn odoo_time(client: &Client) -> Option<String> {
    client.server_time().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

type Done<T> = (Client, Result<T, OdooError>, Duration);

struct InFlight<T> {
    handle: JoinHandle<Done<T>>,
}

pub struct Remote {
    /// None while a call is under way on its thread (or after one was abandoned on shutdown).
    client: Option<Client>,
    requests_before: u64,
    /// Requests sent by the streams' forked clients, once their streams ended.
    by_streams: u64,
    stop: Arc<AtomicBool>,
}

pub(super) fn block_signals() {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

impl Remote {
    /// A client for `settings` whose calls stop when this backend is told to.
    pub fn connect(settings: Settings) -> Result<Remote, OdooError> {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = stop.clone();
        let interrupt: Interrupt = Arc::new(move || seen.load(Ordering::Relaxed));
        Ok(Remote { client: Some(Client::new(settings, Some(interrupt))?), requests_before: 0, by_streams: 0, stop })
    }

    /// `n` clients for concurrent streams of calls (see `streams`). Each stops when this backend
    /// is told to, as this one does, or when `abandon` is set.
    pub fn fork(&self, n: usize, abandon: Arc<AtomicBool>) -> Result<Vec<Client>, OdooError> {
        let client = self.client.as_ref().ok_or(OdooError::Interrupted)?;
        (0..n)
            .map(|_| {
                let (stop, abandon) = (self.stop.clone(), abandon.clone());
                client.fork(Some(Arc::new(move || stop.load(Ordering::Relaxed) || abandon.load(Ordering::Relaxed))))
            })
            .collect()
    }

    /// Count the requests a forked client sent.
    pub fn add_stream_requests(&mut self, n: u64) {
        self.by_streams += n;
    }

    /// Called on the backend's thread only.
    pub(super) fn stop_requested(&self) -> bool {
        let stop = super::shutdown_requested();
        if stop {
            self.stop.store(true, Ordering::Relaxed);
        }
        stop
    }

    pub fn requests_sent(&self) -> u64 {
        self.client.as_ref().map(|c| c.requests_sent()).unwrap_or(self.requests_before) + self.by_streams
    }

    /// The protocol the client chose, once it is open.
    pub fn protocol(&self) -> Option<&'static str> {
        self.client.as_ref()?.protocol().map(|p| p.as_str())
    }

    pub fn server_version(&self) -> Option<String> {
        self.client.as_ref()?.server_version().map(str::to_owned)
    }

    /// Odoo's clock at its last answer (HTTP `Date` header), in Odoo's datetime format.
    pub fn server_time(&self) -> Option<String> {
        odoo_time(self.client.as_ref()?)
    }

    /// Start a call on its own thread.
    fn start<T: Send + 'static>(&mut self, f: impl FnOnce(&mut Client) -> Result<T, OdooError> + Send + 'static) -> Result<InFlight<T>, OdooError> {
        if self.stop_requested() {
            return Err(OdooError::Interrupted);
        }
        let mut client = self.client.take().ok_or(OdooError::Interrupted)?;
        self.requests_before = client.requests_sent();
        let handle = std::thread::spawn(move || {
            block_signals();
            let t0 = Instant::now();
            let r = f(&mut client);
            (client, r, t0.elapsed())
        });
        Ok(InFlight { handle })
    }

    /// Wait for a started call, giving up at once if the backend is told to stop.
    fn finish<T>(&mut self, call: InFlight<T>) -> (Result<T, OdooError>, Duration) {
        let t0 = Instant::now();
        while !call.handle.is_finished() {
            if self.stop_requested() {
                // The thread ends when its socket does; the process is about to exit anyway.
                return (Err(OdooError::Interrupted), t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match call.handle.join() {
            Ok((client, r, took)) => {
                self.client = Some(client);
                (r, took)
            }
            Err(_) => (Err(OdooError::Internal("the thread of an Odoo request panicked (see the server log)".into())), t0.elapsed()),
        }
    }

    /// One call, waited for interruptibly; returns the time it took.
    pub fn call<T: Send + 'static>(&mut self, f: impl FnOnce(&mut Client) -> Result<T, OdooError> + Send + 'static) -> (Result<T, OdooError>, Duration) {
        match self.start(f) {
            Ok(c) => self.finish(c),
            Err(e) => (Err(e), Duration::ZERO),
        }
    }

    pub fn search_read(&mut self, model: &str, domain: Value, fields: Vec<String>, order: &str, limit: usize) -> (Result<Page, OdooError>, Duration) {
        let (model, order) = (model.to_owned(), order.to_owned());
        self.call(move |c| c.search_read(&model, &domain, &fields, &order, limit))
    }

    pub fn read(&mut self, model: &str, ids: Vec<i64>, fields: Vec<String>) -> (Result<Page, OdooError>, Duration) {
        let model = model.to_owned();
        self.call(move |c| c.read(&model, &ids, &fields))
    }

    pub fn search_ids(&mut self, model: &str, domain: Value, limit: Option<usize>) -> (Result<Vec<i64>, OdooError>, Duration) {
        let model = model.to_owned();
        self.call(move |c| c.search_ids(&model, &domain, "id asc", limit))
    }

    /// The lowest and the highest id of the records in `domain` (archived included), if any.
    pub fn id_bounds(&mut self, model: &str, domain: Value) -> (Result<Option<(i64, i64)>, OdooError>, Duration) {
        let model = model.to_owned();
        self.call(move |c| {
            let lowest = c.search_ids(&model, &domain, "id asc", Some(1))?;
            let highest = c.search_ids(&model, &domain, "id desc", Some(1))?;
            Ok(lowest.first().copied().zip(highest.first().copied()))
        })
    }

    pub fn fields_get(&mut self, model: &str) -> (Result<Map<String, Value>, OdooError>, Duration) {
        let model = model.to_owned();
        self.call(move |c| c.fields_get(&model))
    }

    pub fn ids_after(last: i64) -> Value {
        json!([["id", ">", last]])
    }
}
