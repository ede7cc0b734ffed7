//! Deletions within one run. After the copy, Odoo's fingerprint of the model (its record count,
//! archived included, and the sum of their ids: one small request) is compared with the mirror's:
//! its live rows and their ids' sum, kept up to date in `scrap_sga.model` by every write, plus
//! the records waiting in the retry queue that the mirror lacks. Equal: nothing was deleted, for
//! the price of that request. Different: the id space is cut in halves (by id value, so that
//! every cut halves the range and the search ends), each half fingerprinted in Odoo and counted
//! in the mirror from its indexes, down to ranges small enough to reconcile record by record
//! (`halving`).
//! The sum of ids is what a count alone misses: a deletion and a creation in the same interval
//! keep the count but not the sum, whatever order they happen in. (A server without fingerprints
//! is asked its count alone: the comparison then comes after the copy, so that the creation is
//! already in the mirror's count.)
use pgrx::prelude::*;
use scrap_sga_core::ids::{IdRange, OdooId};

use super::context::ModelRun;
use super::mirror::Unit;
use super::halving::Halving;
use crate::catalog::model_state::{Live, ModelState};
use crate::catalog::retry_queue::RetryQueue;
use crate::errors::SyncError;
use crate::interrupt;

/// Live rows of `table` in `range`, and their ids' sum: all rows minus the soft-deleted ones, so
/// that both come from indexes (the primary key, and the partial index on soft-deleted rows)
/// without reading the table.
fn live_in(table: &str, range: IdRange) -> Result<Live, SyncError> {
    let r = range.sql("id");
    let (rows, id_sum) = Spi::get_two::<i64, i64>(&format!(
        "SELECT a.n - d.n, (a.s - d.s)::bigint
         FROM (SELECT count(*) n, coalesce(sum(id), 0) s FROM ONLY {table} WHERE {r}) a,
              (SELECT count(*) n, coalesce(sum(id), 0) s FROM ONLY {table} WHERE sga_deleted_at IS NOT NULL AND {r}) d"
    ))?;
    Ok(Live { rows: rows.unwrap_or(0), id_sum: id_sum.unwrap_or(0) })
}

fn plus(a: Live, b: Live) -> Live {
    Live { rows: a.rows + b.rows, id_sum: a.id_sum + b.id_sum }
}

/// Records Odoo should have in `range`, as far as the mirror knows: live rows, and records
/// waiting in the retry queue that have no live row (Odoo has them; the mirror could not store
/// or fetch them).
fn mirror_set(model: &str, table: &str, range: IdRange) -> Result<Live, SyncError> {
    Ok(plus(live_in(table, range)?, RetryQueue::missing_from(model, table, range)?))
}

/// What Odoo has in a range: its count and id sum (with fingerprints), or its count alone.
#[derive(Clone, Copy)]
struct OdooSet {
    live: Live,
    has_sum: bool,
}

impl OdooSet {
    fn same_as(self, mirror: Live) -> bool {
        self.live.rows == mirror.rows && (!self.has_sum || self.live.id_sum == mirror.id_sum)
    }

    fn minus(self, part: OdooSet) -> OdooSet {
        OdooSet { live: Live { rows: self.live.rows - part.live.rows, id_sum: self.live.id_sum - part.live.id_sum }, has_sum: self.has_sum && part.has_sum }
    }
}

impl ModelRun<'_> {
    /// Soft-delete what Odoo no longer has, when its fingerprint says there is any.
    pub fn find_deletions(&mut self) -> Result<(), SyncError> {
        let (model, table) = (self.model().to_owned(), self.mirror.table().to_owned());
        let odoo_total = self.odoo_set(IdRange::ALL)?;
        let kept = self.mirror.txn(|| {
            // The kept count, counted once when it never was.
            let live = match ModelState::live(&model)? {
                Some(live) => live,
                None => {
                    let live = live_in(&table, IdRange::ALL)?;
                    ModelState::set_live(&model, live)?;
                    live
                }
            };
            Ok(plus(live, RetryQueue::missing_from(&model, &table, IdRange::ALL)?))
        })?;
        if odoo_total.same_as(kept) {
            return Ok(());
        }
        self.mirror.begin_phase("deletion check", Unit::Listed, 0, None, None)?;
        // Someone other than scrap_sga may have changed the table: count it for real before
        // searching, and keep that count. The highest id known here bounds the first cut.
        let (mirror_total, top) = self.mirror.txn(|| {
            let live = live_in(&table, IdRange::ALL)?;
            ModelState::set_live(&model, live)?;
            let queued = RetryQueue::highest_id(&model)?.map(OdooId::get);
            let top = Spi::get_one::<i32>(&format!("SELECT max(id) FROM ONLY {table}"))?.max(queued).unwrap_or(0);
            Ok((plus(live, RetryQueue::missing_from(&model, &table, IdRange::ALL)?), top))
        })?;
        let halving = Halving { top };
        let mut todo = vec![(IdRange::ALL, odoo_total, mirror_total)];
        while let Some((range, odoo, mirror)) = todo.pop() {
            interrupt::check()?;
            if odoo.same_as(mirror) {
                continue;
            }
            let Some((left, right)) = halving.halves(range, mirror.rows.min(odoo.live.rows)) else {
                self.reconcile(range, 1)?;
                continue;
            };
            let mirror_left = self.mirror.txn(|| mirror_set(&model, &table, left))?;
            let odoo_left = self.odoo_set(left)?;
            todo.push((right, odoo.minus(odoo_left), Live { rows: mirror.rows - mirror_left.rows, id_sum: mirror.id_sum - mirror_left.id_sum }));
            todo.push((left, odoo_left, mirror_left));
        }
        Ok(())
    }

    /// Odoo's fingerprint of a range; its count alone from a server that answers none.
    fn odoo_set(&mut self, range: IdRange) -> Result<OdooSet, SyncError> {
        let model = self.model().to_owned();
        let context = |e: scrap_sga_core::odoo::OdooError| {
            SyncError::from_odoo(&e).context(format!("{model}: counting records (deletion check, ids after {})", range.lo))
        };
        match self.remote.fingerprint(&model, range.domain(), false).map_err(context)? {
            Some(fp) => Ok(OdooSet { live: Live { rows: fp.count, id_sum: fp.id_sum }, has_sum: true }),
            None => {
                let rows = self.remote.search_count(&model, range.domain()).map_err(context)?;
                Ok(OdooSet { live: Live { rows, id_sum: 0 }, has_sum: false })
            }
        }
    }
}
