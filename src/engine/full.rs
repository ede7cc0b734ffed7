//! The full pass: every record of the model, by keyset on id over one or more id ranges read at
//! once (`streams`), each page written as it arrives. Used for the first run, after new columns
//! appear, and by full_resync.
//!
//! Resumable: each page commits, in its own transaction, where its range got to
//! (`catalog::full_pass`). A pass cut by an error, a cancel, a crash or a restart is taken up at
//! the next run, whatever starts it, from where each of its ranges got to, with the plan it
//! began with (a pass whose columns changed since starts anew) and Odoo's clock when it first
//! read: what changed meanwhile is read by the window after it, and what was deleted is found by
//! the usual check.
use scrap_sga_core::ids::IdRange;
use std::collections::BTreeMap;

use super::context::ModelRun;
use super::job::Job;
use super::mirror::{Checkpoint, Unit};
use super::streams::{self, Event};
use crate::catalog::full_pass::FullPass;
use crate::errors::SyncError;

impl ModelRun<'_> {
    /// `created`: the run created the table: while it is empty (no earlier attempt of the
    /// steps wrote to it), its pages are inserted without comparison, and no pass left over
    /// resumes into it.
    pub fn copy_all(&mut self, created: bool) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        let mut listing = self.listing(self.mirror.plan().field_names(), vec![], "search_read", true);
        // Pages are converted on the streams' threads: the backend's thread only writes, so
        // that writing a page overlaps fetching the next ones.
        listing.prepare = Some(std::sync::Arc::new(self.mirror.plan().clone()));
        let parallel = self.mirror.conf().parallel;
        let plan: Vec<String> = self.mirror.plan().columns().map(|c| format!("{} {}", c.name, c.pg_type)).collect();
        let anew = matches!(self.inv.job, Job::FullResync { anew: true });
        // A table the run created holds nothing a pass left over could have copied.
        let left = self.mirror.txn(|| FullPass::load(&model))?.filter(|p| !anew && !created && p.plan == plan);
        // An earlier attempt of this run's steps (before Odoo was found out again) may have
        // written to the table it created.
        let empty = created && !self.mirror.wrote_rows();
        // Each range with its key in the catalog: the id the pass began it after.
        let ranges: Vec<(i32, IdRange)> = match left {
            Some(pass) => {
                let from = pass.ranges.iter().map(|(_, r)| r.lo).min();
                self.mirror.resume(pass.read_at, pass.max_write_date);
                self.mirror.txn(|| FullPass::resumed(&model))?;
                self.mirror.begin_phase("full pass", Unit::Fetched, pass.done, pass.expected, from)?;
                pass.ranges
            }
            None => {
                let expected = self.count_all()?;
                let ranges = streams::split(self.remote, &listing, IdRange::ALL, parallel)?;
                self.mirror.txn(|| FullPass::begin(&model, &plan, expected, &ranges))?;
                self.mirror.begin_phase("full pass", Unit::Fetched, 0, expected, None)?;
                ranges.into_iter().map(|r| (r.lo, r)).collect()
            }
        };
        // A page names its range as it was handed out (from where it resumed): by both ends, as a
        // range resumed from its last id and the range after it begin after the same id.
        let key: BTreeMap<(i32, Option<i32>), i32> = ranges.iter().map(|(k, r)| ((r.lo, r.hi), *k)).collect();
        let (sizer, mirror) = (self.mirror.sizer().clone(), &mut self.mirror);
        let ranges = ranges.into_iter().map(|(_, r)| r).collect();
        mirror.fill_fresh(empty);
        let copied = streams::fetch(self.remote, &listing, ranges, parallel, &sizer, |_, event| match event {
            Event::Page(page) => {
                mirror.note_answer(page.answered_at);
                // A page that reaches the range's last id ends it, though the stream asks once more
                // (a range's last page speaks up to the range's end).
                let through = page.span.hi.filter(|&t| Some(t) != page.range.hi);
                let checkpoint = key.get(&(page.range.lo, page.range.hi)).map(|&range| Checkpoint { range, through });
                match page.prepared {
                    Some(prepared) => mirror.write_prepared(prepared, checkpoint),
                    None => mirror.write_page(page.records, checkpoint),
                }
            }
            Event::SetAside { id, error } => mirror.set_aside(id, &error),
        });
        self.mirror.fill_fresh(false);
        copied
    }

    /// Odoo's record count of the model, archived included (one small request): what a pass
    /// that begins expects to copy.
    fn count_all(&mut self) -> Result<Option<i64>, SyncError> {
        let model = self.model().to_owned();
        let n = self.remote.search_count(&model, IdRange::ALL.domain()).map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: counting records")))?;
        Ok(Some(n))
    }
}
