//! Deletions within one run. After the copy, Odoo's record count (archived included) is compared
//! with the mirror's: its live rows, kept up to date in `scrap_sga.model.live_rows` by every
//! write, plus the records waiting in the retry queue that the mirror lacks. Equal: nothing was
//! deleted, for the price of one small request. Different: the id space is cut in halves (by id
//! value, so that every cut halves the range and the search ends), each half counted in Odoo
//! and in the mirror, down to ranges small enough to reconcile record by record. The comparison
//! comes after the copy, so a record created and another deleted in the same interval do not
//! cancel out: the creation is already in the mirror's count.
use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;

use super::context::ModelRun;
use crate::catalog::model_state::ModelState;
use crate::catalog::retry_queue::RetryQueue;
use crate::errors::SyncError;
use crate::interrupt;

/// A range with at most this many rows is reconciled pair by pair (one or two requests).
const LEAF_ROWS: i64 = 5_000;

/// Live rows of `table` in `range`: all rows minus the soft-deleted ones, so that both counts
/// come from indexes (the primary key, and the partial index on soft-deleted rows) without
/// reading the table.
fn live_in(table: &str, range: IdRange) -> Result<i64, SyncError> {
    let r = range.sql("id");
    Ok(Spi::get_one::<i64>(&format!(
        "SELECT (SELECT count(*) FROM ONLY {table} WHERE {r}) - (SELECT count(*) FROM ONLY {table} WHERE sga_deleted_at IS NOT NULL AND {r})"
    ))?
    .unwrap_or(0))
}

/// Rows Odoo should have in `range`, as far as the mirror knows: live rows, and records waiting
/// in the retry queue that have no live row (Odoo has them; the mirror could not store them).
fn mirror_count(model: &str, table: &str, range: IdRange) -> Result<i64, SyncError> {
    Ok(live_in(table, range)? + RetryQueue::missing_from(model, table, range)?)
}

impl ModelRun<'_> {
    /// Soft-delete what Odoo no longer has, when its count says there is any.
    pub fn find_deletions(&mut self) -> Result<(), SyncError> {
        let (model, table) = (self.mirror.conf.model.clone(), self.mirror.table.clone());
        let odoo_total = self.count_in_odoo(IdRange::ALL)?;
        let kept = self.mirror.db.txn(|| {
            // The kept count, counted once when it never was.
            let live = match ModelState::live_rows(&model)? {
                Some(n) => n,
                None => {
                    let n = live_in(&table, IdRange::ALL)?;
                    ModelState::set_live_rows(&model, n)?;
                    n
                }
            };
            Ok(live + RetryQueue::missing_from(&model, &table, IdRange::ALL)?)
        })?;
        if odoo_total == kept {
            return Ok(());
        }
        // Someone other than scrap_sga may have changed the table: count it for real before
        // searching, and keep that count. The highest id known here bounds the first cut.
        let (mirror_total, top) = self.mirror.db.txn(|| {
            let live = live_in(&table, IdRange::ALL)?;
            ModelState::set_live_rows(&model, live)?;
            let top = Spi::get_one::<i32>(&format!("SELECT max(id) FROM ONLY {table}"))?.max(RetryQueue::highest_id(&model)?).unwrap_or(0);
            Ok((live + RetryQueue::missing_from(&model, &table, IdRange::ALL)?, top))
        })?;
        let mut todo = vec![(IdRange::ALL, odoo_total, mirror_total)];
        while let Some((range, odoo, mirror)) = todo.pop() {
            interrupt::check()?;
            if odoo == mirror {
                continue;
            }
            // The middle id of the range; the open top range is cut below the highest id known here
            // (Odoo's newer ids, if any, fall in its upper half).
            let mid = range.lo + (range.hi.unwrap_or(top).max(range.lo) - range.lo) / 2;
            if mirror <= LEAF_ROWS || odoo <= LEAF_ROWS || mid <= range.lo || range.hi.is_some_and(|h| mid >= h) {
                self.reconcile(range, 1)?;
                continue;
            }
            let left = IdRange { lo: range.lo, hi: Some(mid) };
            let mirror_left = self.mirror.db.txn(|| mirror_count(&model, &table, left))?;
            let odoo_left = self.count_in_odoo(left)?;
            todo.push((IdRange { lo: mid, hi: range.hi }, odoo - odoo_left, mirror - mirror_left));
            todo.push((left, odoo_left, mirror_left));
        }
        Ok(())
    }

    fn count_in_odoo(&mut self, range: IdRange) -> Result<i64, SyncError> {
        let model = self.model().to_owned();
        self.remote
            .search_count(&model, range.domain())
            .map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: counting records (deletion check, ids after {})", range.lo)))
    }
}
