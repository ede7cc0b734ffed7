//! Every Odoo call of the engine goes through [`Remote`], so that waits are interruptible and
//! timed in one place: a call runs on a short-lived thread while the backend's own thread polls
//! for a stop, so SIGTERM (`pg_ctl stop -m fast`, `pg_terminate_backend`) stops a worker within
//! a fraction of a second even while Odoo holds an answer back; timeouts alone would keep it for
//! up to `scrap_sga.read_timeout`. The time the backend spends waiting is Odoo's time in the run
//! log. Reading pages while others are written is `streams`' job, with clients forked from this
//! one ([`Remote::fork`]).
//!
//! The thread makes no Postgres call (none is allowed off the main thread), reads none of
//! Postgres' globals either, and blocks every signal, so Postgres' signal handlers only ever run
//! on the backend's thread. What crosses over is explicit: the [`Stop`] the backend's thread
//! raises when it is told to stop, which the client reads between chunks of an answer.
use scrap_sga_core::ids::OdooId;
use scrap_sga_core::odoo::fingerprint::{Fingerprint, Support};
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::transport::Totals;
use scrap_sga_core::odoo::{Client, Detected, OdooError, Settings};
use std::sync::Arc;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

use crate::interrupt::Stop;

pub type Page = Vec<Map<String, Value>>;

/// Odoo's clock at the client's last answer (its HTTP `Date` header).
pub fn odoo_time(client: &Client) -> Option<OdooTime> {
    client.server_time().map(OdooTime::from_utc)
}

/// Block every signal on the calling thread: Postgres' handlers must only run on the backend's.
pub fn block_signals() {
    // SAFETY: sigfillset fills a zeroed sigset_t owned by this frame, and pthread_sigmask changes
    // the calling thread's mask only (a null old-set pointer is allowed); neither touches memory
    // shared with Postgres.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// Requests sent and answers of 429 or 503 waited for.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientCounts {
    pub requests: u64,
    pub waits: u64,
}

pub struct Remote {
    /// None while a call is under way on its thread (or after one was abandoned on shutdown).
    client: Option<Client>,
    /// What the client and the streams' clients forked from it did so far, counted as it
    /// happens, even while a call or a stream is under way.
    totals: Arc<Totals>,
    stop: Stop,
    /// Time the backend spent waiting on Odoo.
    waited: Duration,
}

impl Remote {
    /// A client for `settings` whose calls stop when this backend is told to.
    pub fn connect(settings: Settings) -> Result<Remote, OdooError> {
        let stop = Stop::new();
        let client = Client::new(settings, Some(stop.as_interrupt()))?;
        Ok(Remote { totals: client.totals(), client: Some(client), stop, waited: Duration::ZERO })
    }

    /// Open the client: with what was found out before when there is something, else by asking
    /// the server. Returns what is known now.
    pub fn open(&mut self, known: Option<Detected>) -> Result<Option<Detected>, OdooError> {
        match known {
            Some(d) => self.call(move |c| c.open_as(&d).map(|_| c.detected())),
            None => self.call(|c| c.open().map(|_| c.detected())),
        }
    }

    /// A stop of its own for streams: raised when this backend is told to stop, or by itself.
    pub fn stream_stop(&self) -> Stop {
        self.stop.child()
    }

    /// `n` clients for concurrent streams of calls, each stopping on `stop`.
    pub fn fork(&self, n: usize, stop: &Stop) -> Result<Vec<Client>, OdooError> {
        let client = self.client.as_ref().ok_or(OdooError::Interrupted)?;
        (0..n).map(|_| client.fork(Some(stop.as_interrupt()))).collect()
    }

    /// Called on the backend's thread only.
    pub fn stop_requested(&self) -> bool {
        self.stop.poll()
    }

    pub fn counts(&self) -> ClientCounts {
        ClientCounts { requests: self.totals.requests(), waits: self.totals.waits() }
    }

    /// The counts as they grow, for a run's progress.
    pub fn totals(&self) -> Arc<Totals> {
        self.totals.clone()
    }

    /// Time the backend spent waiting on Odoo, this one's calls and streams' pages alike.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Add time the backend waited for a stream's page.
    pub fn add_waited(&mut self, d: Duration) {
        self.waited += d;
    }

    pub fn protocol(&self) -> Option<&'static str> {
        self.client.as_ref()?.protocol().map(|p| p.as_str())
    }

    pub fn server_version(&self) -> Option<String> {
        self.client.as_ref()?.server_version().map(str::to_owned)
    }

    /// Odoo's clock at its last answer.
    pub fn server_time(&self) -> Option<OdooTime> {
        odoo_time(self.client.as_ref()?)
    }

    /// The body size of the last answer.
    pub fn last_answer_bytes(&self) -> u64 {
        self.client.as_ref().map(Client::last_answer_bytes).unwrap_or(0)
    }

    /// One call on its own thread, waited for interruptibly.
    pub fn call<T: Send + 'static>(&mut self, f: impl FnOnce(&mut Client) -> Result<T, OdooError> + Send + 'static) -> Result<T, OdooError> {
        if self.stop_requested() {
            return Err(OdooError::Interrupted);
        }
        let mut client = self.client.take().ok_or(OdooError::Interrupted)?;
        let t0 = Instant::now();
        let handle = std::thread::spawn(move || {
            block_signals();
            let r = f(&mut client);
            (client, r)
        });
        while !handle.is_finished() {
            if self.stop_requested() {
                // The thread ends when its socket does; the process is about to exit anyway.
                self.waited += t0.elapsed();
                return Err(OdooError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.waited += t0.elapsed();
        match handle.join() {
            Ok((client, r)) => {
                self.client = Some(client);
                r
            }
            Err(_) => Err(OdooError::Internal("the thread of an Odoo request panicked (see the server log)".into())),
        }
    }

    pub fn read(&mut self, model: &str, ids: Vec<OdooId>, fields: Vec<String>) -> Result<Page, OdooError> {
        let model = model.to_owned();
        self.call(move |c| c.read(&model, &ids, &fields))
    }

    pub fn search_ids(&mut self, model: &str, domain: Value, limit: Option<usize>) -> Result<Vec<OdooId>, OdooError> {
        let model = model.to_owned();
        self.call(move |c| c.search_ids(&model, &domain, "id asc", limit))
    }

    pub fn search_count(&mut self, model: &str, domain: Value) -> Result<i64, OdooError> {
        let model = model.to_owned();
        self.call(move |c| c.search_count(&model, &domain))
    }

    /// The lowest and the highest id of the records in `domain` (archived included), if any.
    pub fn id_bounds(&mut self, model: &str, domain: Value) -> Result<Option<(OdooId, OdooId)>, OdooError> {
        let model = model.to_owned();
        self.call(move |c| {
            let lowest = c.search_ids(&model, &domain, "id asc", Some(1))?;
            let highest = c.search_ids(&model, &domain, "id desc", Some(1))?;
            Ok(lowest.first().copied().zip(highest.first().copied()))
        })
    }

    /// The fingerprint of the records of `model` in `domain`, or None when the server answers
    /// no fingerprint method (see `Client::fingerprint`).
    pub fn fingerprint(&mut self, model: &str, domain: Value, newest: bool) -> Result<Option<Fingerprint>, OdooError> {
        let model = model.to_owned();
        self.call(move |c| c.fingerprint(&model, &domain, newest))
    }

    /// How the server answers fingerprints, as far as this client found out.
    pub fn fingerprint_support(&self) -> Option<Support> {
        self.client.as_ref()?.detected().map(|d| d.fingerprints)
    }

    pub fn fields_get(&mut self, model: &str) -> Result<Map<String, Value>, OdooError> {
        let model = model.to_owned();
        self.call(move |c| c.fields_get(&model))
    }

    /// After one record alone failed: see [`others_read_well`].
    pub fn others_read_well(&mut self, model: &str, fields: Vec<String>, good: Option<OdooId>, set_aside: Vec<OdooId>, parked: Vec<OdooId>) -> Result<bool, OdooError> {
        let model = model.to_owned();
        self.call(move |c| others_read_well(c, &model, &fields, good, &set_aside, &parked))
    }

    /// After a request failed as too heavy: is Odoo answering small requests? See
    /// [`answers_small_requests`].
    pub fn answers_small_requests(&mut self, model: &str) -> bool {
        let model = model.to_owned();
        self.call(move |c| Ok(answers_small_requests(c, &model))).unwrap_or(false)
    }
}

/// After a request failed as too heavy: does Odoo answer a small one (a count that matches
/// nothing, the smallest request a model takes)? Any answer of Odoo's says it is up, and the
/// request was too heavy; silence, or a proxy's word that Odoo is out of its reach (after the
/// client's own retries), says it is down: the run fails rather than halve its pages to nothing.
pub fn answers_small_requests(c: &Client, model: &str) -> bool {
    !c.search_count(model, &json!([["id", "=", 0]])).is_err_and(|e| e.is_unreachable())
}

/// After one record alone failed in a way one record's data may explain
/// ([`OdooError::may_be_one_records`]): do the model's other records read well with the same
/// `fields`? Only then is the record the cause, and set aside; an error of every record (a
/// compute broken by an upgrade, say) looks the same on one record, and must fail the run, not
/// park the model one record at a time. Tried in turn until one reads: `good`, a record that
/// read well in this run; the newest, then the oldest record other than the record and those
/// `set_aside` before it in this run, passing over those `parked` by earlier runs (bad records
/// parked at both ends of the id range would otherwise fail the check of every record between)
/// unless the model has no other record. False only when one of them failed the same way and
/// none read: one too heavy to read, a glitch, or no other record at all says nothing.
pub fn others_read_well(c: &Client, model: &str, fields: &[String], good: Option<OdooId>, set_aside: &[OdooId], parked: &[OdooId]) -> Result<bool, OdooError> {
    // What one read says: Some(true) it read well, Some(false) it failed as the record did,
    // None nothing.
    let says = |r: Result<Page, OdooError>| match r {
        Ok(page) => Ok((!page.is_empty()).then_some(true)),
        Err(e) if e.may_be_one_records() => Ok(Some(false)),
        Err(e) if e.is_too_heavy() || e.is_glitch() => Ok(None),
        Err(e) => Err(e),
    };
    let mut failed_alike = false;
    // Whether the read settles it (a record read well); a failure alike is remembered.
    let mut settles = |r: Result<Page, OdooError>| -> Result<bool, OdooError> {
        let said = says(r)?;
        failed_alike |= said == Some(false);
        Ok(said == Some(true))
    };
    // `read` leaves out a record deleted since: that says nothing.
    if let Some(id) = good {
        if settles(c.read(model, &[id], fields))? {
            return Ok(true);
        }
    }
    // A model whose every other record is parked is judged on those: taking none of them, an
    // error of every record would park its records one at a time.
    for excluded in [[set_aside, parked].concat(), set_aside.to_vec()] {
        let others = json!([["id", "not in", excluded]]);
        let mut found = false;
        for order in ["id desc", "id asc"] {
            match c.search_read(model, &others, fields, order, 1) {
                Ok(page) if page.is_empty() => {}
                r => {
                    found = true;
                    if settles(r)? {
                        return Ok(true);
                    }
                }
            }
        }
        if found || parked.is_empty() {
            break;
        }
    }
    Ok(!failed_alike)
}
