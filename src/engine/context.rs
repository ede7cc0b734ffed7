//! One model's run: everything its steps share, with a method per step in the step's own module
//! (`full`, `incremental`, `deletions`, `reconcile`, `computed`, `retry`, `resync`), and the
//! reading by ids (`reader`) they all use. It has two halves, so that a step can hand Odoo's
//! pages (read through `remote`) to the mirror's writer (`mirror`, see `pages`) as they come:
//! the remote, and [`Mirror`], the table, its plan and what the run did so far.
use scrap_sga_core::batch::BatchSizer;
use scrap_sga_core::mapping::ModelPlan;
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::job::Invocation;
use super::upsert::Upsert;
use super::remote::Remote;
use super::streams::Listing;
use crate::catalog::run_log::Counts;
use crate::catalog::ModelConf;
use crate::errors::SyncError;
use crate::{settings, txn};

/// Database work, timed: every transaction of a run goes through it.
#[derive(Debug, Default)]
pub struct DbClock {
    pub total: Duration,
}

impl DbClock {
    /// `f` in a transaction of its own, its time added to the run's database time.
    pub fn txn<R>(&mut self, f: impl FnOnce() -> Result<R, SyncError>) -> Result<R, SyncError> {
        let t0 = Instant::now();
        let r = txn::in_transaction(f);
        self.total += t0.elapsed();
        r
    }
}

pub struct ModelRun<'a> {
    pub inv: &'a Invocation,
    pub remote: &'a mut Remote,
    pub mirror: Mirror,
}

/// The mirror's side of a run: the model, its plan and table, and what the run did so far.
pub struct Mirror {
    pub conf: ModelConf,
    pub run_id: i64,
    /// The mirror table, quoted and schema-qualified.
    pub table: String,
    pub plan: ModelPlan,
    pub(super) upsert: Upsert,
    /// What the run did so far: the same counts as its row in the run log.
    pub done: Counts,
    pub db: DbClock,
    /// Odoo's clock at the run's first answer: the next window is anchored on it.
    pub read_started: Option<OdooTime>,
    /// The newest write_date seen.
    pub max_write_date: Option<OdooTime>,
    /// Records per request for pages of whole records, adapted as Odoo answers.
    pub sizer: Arc<Mutex<BatchSizer>>,
    /// The retry queue may hold records of this model: stored records must leave it.
    pub queue_in_use: bool,
    /// Records the retry queue held at either end of the id range before the run read anything
    /// (`note_queue`), which `others_read_well` passes over.
    pub parked: Vec<i32>,
    pub schema_changes: Vec<String>,
    /// Batches halved in listings of ids and write dates (those of whole records are `sizer`'s).
    pub listing_splits: u64,
    /// The fingerprint of the window this run listed, taken before it listed (see `incremental`).
    pub window: Option<(OdooTime, Fingerprint)>,
    /// Odoo's clock minus ours at the first answer, in seconds (Odoo's clock truncated).
    pub clock_offset_s: Option<f64>,
    /// How far ahead of Odoo's HTTP clock its write_date clock ran, at most (0 when behind).
    pub skew_s: f64,
}

impl<'a> ModelRun<'a> {
    pub fn new(inv: &'a Invocation, conf: ModelConf, run_id: i64, plan: ModelPlan, remote: &'a mut Remote) -> ModelRun<'a> {
        ModelRun { inv, remote, mirror: Mirror::new(conf, run_id, plan) }
    }

    pub fn model(&self) -> &str {
        &self.mirror.conf.model
    }

    /// A listing of this model: `fields` of the records under `domain`, by id.
    pub fn listing(&self, fields: Vec<String>, domain: Vec<Value>, what: &'static str, sets_aside: bool) -> Listing {
        Listing { model: self.mirror.conf.model.clone(), fields, domain, what, sets_aside, parked: self.mirror.parked.clone() }
    }
}

impl Mirror {
    pub fn new(conf: ModelConf, run_id: i64, plan: ModelPlan) -> Mirror {
        let remembered = conf.batch_size.map(|n| (n, conf.bytes_per_record.unwrap_or(0)));
        let sizer = BatchSizer::new(conf.page_size, settings::max_page_bytes(), remembered);
        Mirror {
            table: conf.table(),
            upsert: Upsert::new(&conf.table(), &plan),
            conf,
            run_id,
            plan,
            done: Counts::default(),
            db: DbClock::default(),
            read_started: None,
            max_write_date: None,
            sizer: Arc::new(Mutex::new(sizer)),
            queue_in_use: true,
            parked: Vec::new(),
            schema_changes: Vec::new(),
            listing_splits: 0,
            window: None,
            clock_offset_s: None,
            skew_s: 0.0,
        }
    }

    /// A new plan (a field the user may not read is left out): the writes follow it.
    pub fn replan(&mut self, plan: ModelPlan) {
        self.upsert = Upsert::new(&self.table, &plan);
        self.plan = plan;
    }

    /// Note Odoo's clock at an answer: the earliest is the run's, and at the first one, how far
    /// Odoo's clock is from ours.
    pub fn note_answer(&mut self, at: Option<OdooTime>) {
        if let Some(t) = at {
            if self.clock_offset_s.is_none() {
                let ours = OdooTime::from_utc(chrono::Utc::now());
                self.clock_offset_s = Some(t.seconds_since(ours) as f64);
            }
            if self.read_started.is_none_or(|s| t < s) {
                self.read_started = Some(t);
            }
        }
    }

    /// Note how far ahead of an answer's clock (`at`) the newest write date it carries runs.
    pub fn note_skew(&mut self, at: Option<OdooTime>, newest: Option<OdooTime>) {
        if let (Some(at), Some(w)) = (at, newest) {
            self.skew_s = self.skew_s.max(w.seconds_since(at) as f64);
        }
    }

    /// See `scrap_sga.model.recheck_margin`: a row copied less than the recheck's seconds after
    /// its write_date (plus how far Odoo's write_date clock ran ahead, plus a second for clocks
    /// read to the second) may hide a second write within that second; in our clock, less Odoo's
    /// offset from it.
    pub fn recheck_margin_s(&self, recheck_secs: i64) -> Option<f64> {
        self.clock_offset_s.map(|offset| recheck_secs as f64 + self.skew_s + 1.0 - offset)
    }

    pub fn note_write_date(&mut self, written: Option<OdooTime>) {
        if written.is_some_and(|w| self.max_write_date.is_none_or(|m| w > m)) {
            self.max_write_date = written;
        }
    }

    /// A batch sizer for listings of ids and write dates: `max` pairs at most (tiny records),
    /// fresh for each listing.
    pub fn pair_sizer(max: usize) -> Arc<Mutex<BatchSizer>> {
        Arc::new(Mutex::new(BatchSizer::new(max, u64::MAX, None)))
    }

    /// The batch size that worked and a record's weight, for the next run.
    pub fn batch_memory(&self) -> (usize, u64) {
        self.sizer.lock().unwrap().remembered()
    }

    /// Batches halved after a refusal, in this run.
    pub fn splits(&self) -> u64 {
        self.sizer.lock().unwrap().splits + self.listing_splits
    }

    /// Count the halvings of a listing's own sizer, once it is done.
    pub fn count_splits(&mut self, pairs: &Mutex<BatchSizer>) {
        self.listing_splits += pairs.lock().unwrap().splits;
    }
}
