//! The mirror of one run: its model, plan and table, and what the run did so far (see the
//! module `mirror`). Its fields are the mirror module's own: the writes (`pages`) use them
//! directly, everything else goes through the methods.
use scrap_sga_core::ids::OdooId;
use scrap_sga_core::mapping::ModelPlan;
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;
use std::time::{Duration, Instant};

use super::progress::{Progress, Unit};
use super::upsert::Upsert;
use crate::catalog::run_log::{Counts, Report, RunLog, RunMode};
use crate::catalog::ModelConf;
use crate::engine::streams::SharedSizer;
use crate::errors::SyncError;
use crate::{settings, txn};

/// `f` in a transaction of its own, its time added to `clock`.
pub fn timed<R>(clock: &mut Duration, f: impl FnOnce() -> Result<R, SyncError>) -> Result<R, SyncError> {
    let t0 = Instant::now();
    let r = txn::in_transaction(f);
    *clock += t0.elapsed();
    r
}

pub struct Mirror {
    pub(super) conf: ModelConf,
    pub(super) run_id: i64,
    /// The mirror table, quoted and schema-qualified.
    pub(super) table: String,
    pub(super) plan: ModelPlan,
    pub(super) upsert: Upsert,
    /// The run created the table and fills it: its pages are inserted without comparison.
    pub(super) fresh: bool,
    pub(super) report: Report,
    /// How far the run is, for `scrap_sga.progress`.
    pub(super) progress: Progress,
    /// Records per request for pages of whole records, adapted as Odoo answers.
    pub(super) sizer: SharedSizer,
    /// The retry queue may hold records of this model: stored records must leave it.
    pub(super) queue_in_use: bool,
    /// Records the retry queue held at either end of the id range before the run read anything
    /// (`note_queue`), which `others_read_well` passes over.
    pub(super) parked: Vec<OdooId>,
    /// Batches halved in listings of ids and write dates (those of whole records are `sizer`'s).
    pub(super) listing_splits: u64,
    /// Odoo's clock minus ours at the first answer, in seconds (Odoo's clock truncated).
    pub(super) clock_offset_s: Option<f64>,
    /// How far ahead of Odoo's HTTP clock its write_date clock ran, at most (0 when behind).
    pub(super) skew_s: f64,
}

impl Mirror {
    /// The run's mirror, once its plan is made; `report` holds what planning did.
    pub fn new(conf: ModelConf, run_id: i64, plan: ModelPlan, report: Report) -> Mirror {
        let remembered = conf.batch_size.map(|n| (n, conf.bytes_per_record.unwrap_or(0)));
        let sizer = SharedSizer::new(conf.page_size, settings::max_page_bytes(), remembered);
        Mirror {
            table: conf.table(),
            upsert: Upsert::new(&conf.table(), &plan),
            fresh: false,
            conf,
            run_id,
            plan,
            report,
            progress: Progress::default(),
            sizer,
            queue_in_use: true,
            parked: Vec::new(),
            listing_splits: 0,
            clock_offset_s: None,
            skew_s: 0.0,
        }
    }

    pub fn conf(&self) -> &ModelConf {
        &self.conf
    }

    pub fn model(&self) -> &str {
        &self.conf.model
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn plan(&self) -> &ModelPlan {
        &self.plan
    }

    pub fn sizer(&self) -> &SharedSizer {
        &self.sizer
    }

    pub fn parked(&self) -> &[OdooId] {
        &self.parked
    }

    pub fn queue_in_use(&self) -> bool {
        self.queue_in_use
    }

    /// What the retry queue holds of the model when the run starts (see `retry::note_queue`).
    pub fn note_queue(&mut self, in_use: bool, parked: Vec<OdooId>) {
        self.queue_in_use = in_use;
        self.parked = parked;
    }

    /// Odoo's clock at the run's first answer.
    pub fn read_started(&self) -> Option<OdooTime> {
        self.report.read_started
    }

    /// How far ahead of Odoo's HTTP clock its write_date clock ran, at most.
    pub fn skew_s(&self) -> f64 {
        self.skew_s
    }

    /// Whether this run wrote rows to the table already.
    pub fn wrote_rows(&self) -> bool {
        self.report.counts.inserted + self.report.counts.restored > 0
    }

    /// Whether the table is the run's own, new and filled by it (see `Upsert::apply`).
    pub fn fill_fresh(&mut self, fresh: bool) {
        self.fresh = fresh;
    }

    /// A new plan (a field the user may not read is left out): the writes follow it.
    pub fn replan(&mut self, plan: ModelPlan) {
        self.upsert = Upsert::new(&self.table, &plan);
        self.plan = plan;
    }

    /// A line for the run log's schema changes.
    pub fn note_schema_change(&mut self, change: String) {
        self.report.schema_changes.push(change);
    }

    /// `f` in a transaction of its own, timed into the run's database time.
    pub fn txn<R>(&mut self, f: impl FnOnce() -> Result<R, SyncError>) -> Result<R, SyncError> {
        timed(&mut self.report.db_time, f)
    }

    /// [`Mirror::txn`] for work that counts: the counts `f` returns are added to the run's row
    /// in the same transaction (with how far the run is now), and to the report once it
    /// committed.
    pub fn counted<R>(&mut self, f: impl FnOnce() -> Result<(R, Counts), SyncError>) -> Result<R, SyncError> {
        counted(&mut self.report, &mut self.progress, self.run_id, f)
    }

    /// Follow what the run asks of Odoo as it goes (`Remote::totals`), for its progress.
    pub fn watch_odoo(&mut self, totals: std::sync::Arc<scrap_sga_core::odoo::transport::Totals>) {
        self.progress.watch(totals);
    }

    /// The run enters a step that takes time: said at once in its row, with `done` of
    /// `expected` records (`unit` says which of the counts they are), and after which id a
    /// full pass resumed.
    pub fn begin_phase(&mut self, phase: &str, unit: Unit, done: i64, expected: Option<i64>, resumed_from: Option<i32>) -> Result<(), SyncError> {
        self.progress.begin(unit, done);
        let run_id = self.run_id;
        self.txn(|| RunLog::phase(run_id, phase, done, expected, resumed_from))
    }

    /// A full pass resumed: it began reading at `read_at` (Odoo's clock), and copied up to
    /// `newest` (the window after it starts from there).
    pub fn resume(&mut self, read_at: Option<OdooTime>, newest: Option<OdooTime>) {
        // Not an answer: how far Odoo's clock is from ours is measured at this run's first one.
        self.note_read_at(read_at);
        self.note_write_date(newest);
    }

    /// The run read from Odoo as it was at `at`: the earliest such time is the run's.
    fn note_read_at(&mut self, at: Option<OdooTime>) {
        if let Some(t) = at {
            if self.report.read_started.is_none_or(|s| t < s) {
                self.report.read_started = Some(t);
            }
        }
    }

    /// Note Odoo's clock at an answer: the earliest is the run's, and at the first one, how far
    /// Odoo's clock is from ours.
    pub fn note_answer(&mut self, at: Option<OdooTime>) {
        if let Some(t) = at {
            if self.clock_offset_s.is_none() {
                let ours = OdooTime::from_utc(chrono::Utc::now());
                self.clock_offset_s = Some(t.seconds_since(ours) as f64);
            }
        }
        self.note_read_at(at);
    }

    /// Note how far ahead of an answer's clock (`at`) the newest write date it carries runs.
    pub fn note_skew(&mut self, at: Option<OdooTime>, newest: Option<OdooTime>) {
        if let (Some(at), Some(w)) = (at, newest) {
            self.skew_s = self.skew_s.max(w.seconds_since(at) as f64);
        }
    }

    pub fn note_write_date(&mut self, written: Option<OdooTime>) {
        if written.is_some_and(|w| self.report.max_write_date.is_none_or(|m| w > m)) {
            self.report.max_write_date = written;
        }
    }

    /// The fingerprint of the window this run listed, taken before it listed (see `incremental`).
    pub fn note_window(&mut self, window: Option<(OdooTime, Fingerprint)>) {
        self.report.window = window;
    }

    /// Count the halvings of a listing's own sizer, once it is done.
    pub fn count_splits(&mut self, pairs: &SharedSizer) {
        self.listing_splits += pairs.with(|s| s.splits);
    }

    /// The run's steps succeeded: how it read Odoo, whether it sets the next window, and what
    /// it checked.
    pub fn succeeded(&mut self, mode: RunMode, sets_window: bool, reconciled: bool, computed_refreshed: bool) {
        self.report.mode = Some(mode);
        self.report.sets_window = sets_window;
        self.report.reconciled = reconciled;
        self.report.computed_refreshed = computed_refreshed;
    }

    /// The run's report, with what only the end knows: the cursor the run leaves (unchanged by
    /// a run that `keeps_cursor`), the batches' memory and halvings, and when the next run reads
    /// again what this one copied too soon after its write (`recheck_secs`: see
    /// `incremental::RECHECK_SECS`).
    pub fn into_report(mut self, recheck_secs: i64, keeps_cursor: bool) -> Report {
        let r = &mut self.report;
        r.cursor_after = if keeps_cursor { self.conf.cursor } else { r.max_write_date.or(self.conf.cursor) };
        r.splits = self.sizer.with(|s| s.splits) + self.listing_splits;
        r.batch = Some(self.sizer.with(|s| s.remembered()));
        // A row copied less than the recheck's seconds after its write_date (plus how far Odoo's
        // write_date clock ran ahead, plus a second for clocks read to the second) may hide a
        // second write within that second; in our clock, less Odoo's offset from it.
        r.recheck_margin_s = self.clock_offset_s.map(|offset| recheck_secs as f64 + self.skew_s + 1.0 - offset);
        let anchor = if r.sets_window { r.read_started.or(r.cursor_after) } else { r.read_started };
        r.recheck_from = anchor.map(|t| t.minus_seconds(recheck_secs));
        self.report
    }
}

/// See [`Mirror::counted`].
pub(super) fn counted<R>(report: &mut Report, progress: &mut Progress, run_id: i64, f: impl FnOnce() -> Result<(R, Counts), SyncError>) -> Result<R, SyncError> {
    let (r, counts) = timed(&mut report.db_time, || {
        let (r, counts) = f()?;
        RunLog::add(run_id, &counts, progress.after(&counts).as_ref())?;
        Ok((r, counts))
    })?;
    progress.committed(&counts);
    report.counts.add(&counts);
    Ok(r)
}
