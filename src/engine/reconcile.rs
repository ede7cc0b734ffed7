//! Reconciliation: the mirror against what Odoo has now, record by record. Odoo's `(id,
//! write_date)` pairs come in pages (`search_read` of `write_date` only, archived included) and
//! are compared with the mirror in SQL: a record whose write_date differs, or that the mirror
//! lacks or has soft-deleted, is read again (a *repair*: the window missed it, as it misses a
//! transaction that committed later than `lookback`); a row Odoo no longer has is soft-deleted.
//! Each page speaks for an id range (up to its last id), so the comparison streams and never holds
//! a whole model; the listing can use several streams (`parallel`), and it can be asked for one
//! id range only (the per-run deletion check does).
use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;

use super::context::ModelRun;
use super::mirror::Unit;
use crate::catalog::model_state::ModelState;
use super::streams::{self, Event, SharedSizer};
use crate::catalog::retry_queue::RetryQueue;
use crate::catalog::run_log::Counts;
use crate::errors::SyncError;
use crate::listing::{json_arg, Listed, PAIRS};
use crate::values::ids;

/// Pairs per request: about 45 bytes each.
const PAIR_PAGE: usize = 20_000;

impl ModelRun<'_> {
    /// Reconcile the whole model on up to `parallel` streams, as a phase of its own.
    pub fn reconcile_all(&mut self, parallel: usize) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        // As many pairs as the mirror has live rows, about.
        let expected = self.mirror.txn(|| ModelState::live(&model))?.map(|l| l.rows);
        self.mirror.begin_phase("reconcile", Unit::Listed, 0, expected, None)?;
        self.reconcile(IdRange::ALL, parallel)
    }

    /// Reconcile `range` on up to `parallel` streams, within the phase under way (the deletion
    /// check reconciles the ranges it narrowed down, each within its one phase).
    pub fn reconcile(&mut self, range: IdRange, parallel: usize) -> Result<(), SyncError> {
        let (model, table) = (self.model().to_owned(), self.mirror.table().to_owned());
        let by_write_date = self.mirror.plan().has_field("write_date");
        // Rows in this page's id range that Odoo did not list. EXCEPT, not NOT EXISTS: the planner
        // cannot know how many records the JSON holds, and without statistics on the table (just
        // after a first copy) it chose a nested loop that read the listing once per row: 52 s for a
        // page of 20,000 pairs, against a set operation that is linear whatever the estimates.
        // The range stands outside too, so that the update never scans the table beyond it.
        let gone = |span: IdRange| {
            let r = span.sql("id");
            format!("{r} AND id IN (SELECT id FROM {table} WHERE {r} EXCEPT SELECT o.id FROM json_to_recordset($1::json) AS o(id integer))")
        };
        // Odoo's records the mirror lacks, has soft-deleted, or holds at another write_date; the
        // second column says whether that is a repair (the mirror held the record, out of date).
        // Records waiting in the retry queue are read when their retry is due, not before.
        let differs = if by_write_date { "OR t.write_date IS DISTINCT FROM o.write_date" } else { "" };
        let stale = format!(
            "SELECT coalesce(array_agg(o.id ORDER BY o.id), '{{}}'), count(*) FILTER (WHERE t.id IS NOT NULL AND t.sga_deleted_at IS NULL)
             FROM {PAIRS} LEFT JOIN {table} t ON t.id = o.id
             WHERE (t.id IS NULL OR t.sga_deleted_at IS NOT NULL {differs}) AND NOT {}",
            RetryQueue::waiting_sql(&model, "o.id", "o.write_date")
        );
        let listing = self.listing(vec![if by_write_date { "write_date" } else { "id" }.to_owned()], vec![], "reconcile listing", false);
        let ranges = streams::split(self.remote, &listing, range, parallel)?;
        let pairs = SharedSizer::pairs(PAIR_PAGE);
        let mirror = &mut self.mirror;
        streams::fetch(self.remote, &listing, ranges, parallel, &pairs, |remote, event| {
            let Event::Page(page) = event else { return Ok(()) };
            // Everything is compared within the ids the page speaks for.
            let listed = Listed::of(&page.records);
            let doc = listed.document();
            let gone = gone(page.span);
            mirror.soft_delete(&gone, 1, || vec![json_arg(&doc)])?;
            let to_read = mirror.counted(|| {
                RetryQueue::remove_unlisted(&model, page.span, &doc)?;
                let (found, repaired) = Spi::get_two_with_args::<Vec<i32>, i64>(&stale, &[json_arg(&doc)])?;
                Ok((ids(found), Counts { listed: listed.count(), repaired: repaired.unwrap_or(0), ..Default::default() }))
            })?;
            mirror.read_listed(remote, &to_read, "reconcile read", &listed, Some(&doc))
        })?;
        self.mirror.count_splits(&pairs);
        Ok(())
    }
}
