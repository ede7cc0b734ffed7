//! How far a run under way is, for `scrap_sga.progress`: the records done in its step, the rate
//! over its last pages, and what it asked of Odoo so far, written with each transaction that
//! counts (`RunLog::add`), so that another session sees them current to the last page.
use scrap_sga_core::odoo::transport::Totals;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::run_log::{Counts, UnderWay};

/// The rate is taken over the pages of the last this long.
const RATE_OVER: Duration = Duration::from_secs(10);

/// What a step's records done are, among the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Records read (a full pass, records read again).
    #[default]
    Fetched,
    /// `(id, write_date)` pairs listed (the window, a reconcile).
    Listed,
}

#[derive(Default)]
pub struct Progress {
    /// None until the run enters a step that takes time: a quiet run writes no progress.
    unit: Option<Unit>,
    done: i64,
    /// When, and how many records were done then, over the last pages.
    recent: VecDeque<(Instant, i64)>,
    /// The invocation's counts of what was asked of Odoo, and what they were when this run
    /// began watching: they are shared by every model the invocation runs.
    odoo: Option<(Arc<Totals>, u64, u64)>,
}

impl Progress {
    pub fn watch(&mut self, totals: Arc<Totals>) {
        let (requests, waits) = (totals.requests(), totals.waits());
        self.odoo = Some((totals, requests, waits));
    }

    pub fn begin(&mut self, unit: Unit, done: i64) {
        self.unit = Some(unit);
        self.done = done;
        self.recent = VecDeque::from([(Instant::now(), done)]);
    }

    fn of(unit: Unit, c: &Counts) -> i64 {
        match unit {
            Unit::Fetched => c.fetched,
            Unit::Listed => c.listed,
        }
    }

    /// How far the run will be once `c` commits, if it is in a step.
    pub fn after(&self, c: &Counts) -> Option<UnderWay> {
        let unit = self.unit?;
        let done = self.done + Progress::of(unit, c);
        let now = Instant::now();
        // Records per second since the oldest page kept, this one included.
        let rate = self.recent.front().and_then(|(t, d)| {
            let secs = now.duration_since(*t).as_secs_f64();
            // A rate is a float; a count of records in one is exact up to 2^24.
            #[allow(clippy::cast_possible_truncation)]
            (secs > 0.0).then(|| ((done - d) as f64 / secs) as f32)
        });
        let (requests, waits) = self.odoo.as_ref().map_or((0, 0), |(o, r, w)| (o.requests().saturating_sub(*r), o.waits().saturating_sub(*w)));
        Some(UnderWay { done, rate, requests, waits })
    }

    /// `c` committed.
    pub fn committed(&mut self, c: &Counts) {
        let Some(unit) = self.unit else { return };
        self.done += Progress::of(unit, c);
        let now = Instant::now();
        self.recent.push_back((now, self.done));
        while self.recent.len() > 2 && self.recent.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_OVER) {
            self.recent.pop_front();
        }
    }
}
